"""The UI: sign in with a token, see the status board, one system, events and dead letters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.routing.router import Router
from tests.helpers import Emit, Producer, Staff

SAME_ORIGIN = {"Origin": "http://testserver"}


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> None:
    """Sign in as a browser does: load the form, send it back with its CSRF token."""
    form = client.get("/ui/login")
    response = client.post(
        "/ui/login",
        data={"token": token, "csrf": csrf_of(form.text)},
        headers={"Origin": str(client.base_url)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "Path=/ui;" in c)
    assert cookie.startswith("ct_session=")
    assert token not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def test_board_needs_sign_in_and_shows_every_system(
    client: TestClient, staff: Staff, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    anonymous = client.get("/ui/", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/ui/login"
    clock.set(datetime.now(UTC))
    for _ in range(3):
        emit("backend.fn.error", "backend", {"fn_name": "payInvoice", "severity": "high"})
    router.drain()
    sign_in(client, staff.tokens[Role.viewer].token)
    board = client.get("/ui/")
    assert board.status_code == 200
    assert 'data-system="backend"' in board.text
    assert 'data-system="portal"' in board.text
    assert "errors_24h: 3 errors in the last 24 h" in board.text
    system = client.get("/ui/systems/backend")
    assert "heartbeat_gap" in system.text
    assert "errors_24h" in system.text
    assert "Event stream needs the maintainer role" in client.get("/ui/events").text


def test_maintainer_sees_events_and_dead_letters(
    client: TestClient, staff: Staff, emit: Emit, clock: FrozenClock
) -> None:
    clock.set(datetime.now(UTC))
    event_id = emit("system.heartbeat", "backend", {"system_id": "backend"})
    sign_in(client, staff.tokens[Role.maintainer].token)
    assert event_id in client.get("/ui/events?type=system.heartbeat").text
    assert event_id not in client.get("/ui/events?type=backend.fn.error").text
    assert "depth 0" in client.get("/ui/dlq").text


def test_bad_and_producer_tokens_cannot_sign_in(client: TestClient, producer: Producer) -> None:
    for token in ("ct_not-a-token", producer.token):
        csrf = csrf_of(client.get("/ui/login").text)
        response = client.post(
            "/ui/login",
            data={"token": token, "csrf": csrf},
            headers=SAME_ORIGIN,
            follow_redirects=False,
        )
        assert response.status_code == 200
        assert "Unknown, revoked or producer token" in response.text
        assert not any(c.startswith("ct_session=") for c in response.headers.get_list("set-cookie"))
    client.cookies.set("ct_session", producer.token)
    assert client.get("/ui/", follow_redirects=False).status_code == 303
