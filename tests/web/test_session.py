"""UI sessions: the cookie holds a server-side session id; sign-out, the token's revocation or
expiry and the session's own expiry end it; sign-in is rate-limited; forms need their CSRF
token and CT's own origin."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.app import create_app
from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import ui_sessions
from control_tower.settings import Settings
from tests.conftest import issue_token
from tests.helpers import Staff
from tests.web.test_ui import SAME_ORIGIN, csrf_of, sign_in

FOREIGN = {"Origin": "https://evil.example"}


def session_rows(engine: Engine) -> list[dict[str, object]]:
    with unit_of_work(engine, write=False) as conn:
        return [dict(r._mapping) for r in conn.execute(select(ui_sessions))]


def sign_out(client: TestClient, headers: dict[str, str] | None = None, **form: str) -> int:
    response = client.post(
        "/ui/logout",
        data=form,
        headers=SAME_ORIGIN if headers is None else headers,
        follow_redirects=False,
    )
    return response.status_code


def signed_in(client: TestClient) -> bool:
    answer = client.get("/ui/", follow_redirects=False)
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


def test_the_cookie_holds_a_session_id_that_sign_out_revokes(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    token = staff.tokens[Role.viewer].token
    sign_in(client, token)
    session_id = client.cookies["ct_session"]
    assert token not in session_id
    [row] = session_rows(engine)
    assert row["session_hash"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in {str(v) for v in row.values()}
    assert row["revoked_at"] is None
    assert signed_in(client)

    csrf = csrf_of(client.get("/ui/").text)
    response = client.post(
        "/ui/logout", data={"csrf": csrf}, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    assert "ct_session" not in client.cookies
    assert session_rows(engine)[0]["revoked_at"] is not None
    # The same cookie, replayed after sign-out, is refused.
    client.cookies.set("ct_session", session_id)
    assert not signed_in(client)


def test_revoking_or_rotating_the_token_ends_its_sessions(
    client: TestClient, staff: Staff, engine: Engine, clock: FrozenClock
) -> None:
    sign_in(client, staff.tokens[Role.viewer].token)
    assert signed_in(client)
    with unit_of_work(engine) as conn:
        tokens.revoke_token(conn, name="viewer-user", now=clock.now(), actor="test")
    assert not signed_in(client)

    sign_in(client, staff.tokens[Role.operator].token)
    assert signed_in(client)
    with unit_of_work(engine) as conn:
        tokens.rotate_token(
            conn, name="operator-user", now=clock.now(), master_key=b"k", actor="test"
        )
    assert not signed_in(client)


def test_a_session_ends_when_it_or_its_token_expires(
    client: TestClient, staff: Staff, engine: Engine, clock: FrozenClock
) -> None:
    sign_in(client, staff.tokens[Role.viewer].token)
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert signed_in(client)
    clock.advance(timedelta(seconds=1))
    assert not signed_in(client)

    short = issue_token(
        engine,
        "short-lived",
        Role.viewer,
        now=clock.now(),
        expires_at=clock.now() + timedelta(hours=1),
    )
    sign_in(client, short.token)
    clock.advance(timedelta(minutes=59))
    assert signed_in(client)
    clock.advance(timedelta(minutes=1))
    assert not signed_in(client)


@pytest.fixture
def https_client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def ui_cookies(response_headers: list[str]) -> list[str]:
    return [c for c in response_headers if c.startswith(("ct_session=", "ct_login_form="))]


def test_cookies_are_secure_when_the_request_came_over_https(
    client: TestClient, https_client: TestClient, staff: Staff
) -> None:
    token = staff.tokens[Role.viewer].token
    for browser, secure in ((https_client, True), (client, False)):
        form = browser.get("/ui/login")
        response = browser.post(
            "/ui/login",
            data={"token": token, "csrf": csrf_of(form.text)},
            headers={"Origin": str(browser.base_url)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        cookies = ui_cookies(form.headers.get_list("set-cookie"))
        cookies += ui_cookies(response.headers.get_list("set-cookie"))
        # The form's; then the session's, the pre-session cookie (path /) and the form's
        # cleared.
        assert len(cookies) == 4
        for cookie in cookies:
            assert ("; Secure" in cookie) is secure, cookie
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
        [session_cookie] = [c for c in cookies if "Path=/ui;" in c]
        assert f"Max-Age={12 * 3600}" in session_cookie
        assert signed_in(browser)


def test_rapid_sign_ins_from_one_address_spend_the_anonymous_budget(
    settings: Settings, clock: FrozenClock, staff: Staff
) -> None:
    limited = settings.model_copy(update={"anonymous_rate_limit_per_minute": 6})
    with TestClient(create_app(limited, clock=clock), raise_server_exceptions=False) as client:
        csrf = csrf_of(client.get("/ui/login").text)
        # The API's anonymous 401s and the sign-in form spend one budget per address.
        assert client.get("/events").status_code == 401
        for _ in range(5):
            wrong = client.post(
                "/ui/login", data={"token": "ct_guess", "csrf": csrf}, headers=SAME_ORIGIN
            )
            assert wrong.status_code == 200
            assert "Unknown, revoked or producer token" in wrong.text
        right = {"token": staff.tokens[Role.viewer].token, "csrf": csrf}
        refused = client.post("/ui/login", data=right, headers=SAME_ORIGIN)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many sign-in attempts" in refused.text
        assert "ct_session" not in client.cookies
        # Counted before the body is read: an oversized body is not even looked at.
        big = client.post("/ui/login", content=b"x" * 100_000, headers=SAME_ORIGIN)
        assert big.status_code == 429


def test_the_sign_in_body_is_bounded(client: TestClient, settings: Settings) -> None:
    csrf = csrf_of(client.get("/ui/login").text)
    padding = "a" * settings.max_body_bytes
    response = client.post("/ui/login", data={"token": padding, "csrf": csrf}, headers=SAME_ORIGIN)
    assert response.status_code == 413


def test_sign_in_needs_its_csrf_token_and_the_same_origin(
    client: TestClient, staff: Staff, clock: FrozenClock
) -> None:
    token = staff.tokens[Role.viewer].token
    csrf = csrf_of(client.get("/ui/login").text)
    attempts = [
        ({"token": token}, SAME_ORIGIN),  # no CSRF token
        ({"token": token, "csrf": "0" * 64}, SAME_ORIGIN),  # a made-up one
        ({"token": token, "csrf": csrf}, FOREIGN),  # another site's page
        ({"token": token, "csrf": csrf}, {"Origin": "null"}),  # a sandboxed page
        ({"token": token, "csrf": csrf}, {}),  # neither Origin nor Referer
        ({"token": token, "csrf": csrf}, {"Referer": "https://evil.example/ct"}),
    ]
    for form, headers in attempts:
        response = client.post("/ui/login", data=form, headers=headers, follow_redirects=False)
        assert response.status_code == 403, (form, headers)
        assert "did not come from Control Tower" in response.text
        assert "ct_session" not in client.cookies
    # A form served two hours ago no longer signs in.
    csrf = csrf_of(client.get("/ui/login").text)
    clock.advance(timedelta(hours=2))
    stale = client.post("/ui/login", data={"token": token, "csrf": csrf}, headers=SAME_ORIGIN)
    assert stale.status_code == 403
    # The refusal serves a fresh form, which works; a same-origin Referer does as Origin.
    fresh = client.post(
        "/ui/login",
        data={"token": token, "csrf": csrf_of(stale.text)},
        headers={"Referer": "http://testserver/ui/login"},
        follow_redirects=False,
    )
    assert fresh.status_code == 303
    assert signed_in(client)


def test_forms_of_a_session_need_its_csrf_token_and_the_same_origin(
    client: TestClient, staff: Staff
) -> None:
    sign_in(client, staff.tokens[Role.viewer].token)
    first = csrf_of(client.get("/ui/").text)
    assert sign_out(client) == 403
    assert sign_out(client, csrf="0" * 64) == 403
    assert sign_out(client, FOREIGN, csrf=first) == 403
    assert sign_out(client, {}, csrf=first) == 403
    assert signed_in(client)
    assert sign_out(client, csrf=first) == 303
    assert not signed_in(client)
    # A new session has a new token: the old session's does not carry over.
    sign_in(client, staff.tokens[Role.viewer].token)
    second = csrf_of(client.get("/ui/").text)
    assert second != first
    assert sign_out(client, csrf=first) == 403
    assert sign_out(client, csrf=second) == 303


def test_a_stranger_posting_a_form_is_sent_to_sign_in(client: TestClient) -> None:
    response = client.post("/ui/logout", data={"csrf": "x"}, headers=SAME_ORIGIN,
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


def test_how_long_a_session_lasts_is_a_setting(
    settings: Settings, clock: FrozenClock, staff: Staff
) -> None:
    short = settings.model_copy(update={"ui_session_hours": 0.5})
    with TestClient(create_app(short, clock=clock), raise_server_exceptions=False) as client:
        sign_in(client, staff.tokens[Role.viewer].token)
        clock.advance(timedelta(minutes=29))
        assert signed_in(client)
        clock.advance(timedelta(minutes=1))
        assert not signed_in(client)
