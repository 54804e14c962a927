"""Google identities as bearer tokens, on both stores: staff with Firebase ID tokens (API and UI
sign-in, roles from a claim or `ct users`, sign out everywhere) and producers with a Google-
signed service-account ID token (the HMAC signature still required). Tokens are minted with the
test's own RSA keys, whose certificates a local server serves as Google does."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.app import create_app
from control_tower.auth import tokens, users
from control_tower.auth.roles import Role
from control_tower.catalog.loader import default_catalog_text
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.kit.signing import sign
from control_tower.models import audit_log
from control_tower.settings import Settings
from tests.auth.google_idp import (
    AUDIENCE,
    FIREBASE_ISSUER,
    PROJECT,
    GoogleIdP,
    b64url,
    certificate_pem,
    new_key,
    running_idp,
    tampered,
    unsigned,
)
from tests.conftest import issue_token
from tests.helpers import make_event
from tests.web.test_ui import csrf_of

SA_EMAIL = "backend-ct@swan-prod.iam.gserviceaccount.com"


@pytest.fixture
def idp() -> Iterator[GoogleIdP]:
    with running_idp() as server:
        yield server


def identity_settings(settings: Settings, idp: GoogleIdP, tmp_path: Path) -> Settings:
    data: dict[str, Any] = yaml.safe_load(default_catalog_text())
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    data["identity"] = {
        "service_accounts": [
            {"email": SA_EMAIL, "source": "backend", "token": "backend-sa"},
            {"email": "stray@swan-prod.iam.gserviceaccount.com", "source": "backend",
             "token": "finance-sa"},
        ]
    }  # fmt: skip
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return settings.model_copy(
        update={
            "catalog": path,
            "firebase_project_id": PROJECT,
            "firebase_certs_url": idp.x509_url,
            "google_certs_url": idp.jwks_url,
            "public_url": AUDIENCE,
        }
    )


@pytest.fixture
def app_client(
    settings: Settings, idp: GoogleIdP, tmp_path: Path, clock: FrozenClock
) -> Iterator[TestClient]:
    app = create_app(identity_settings(settings, idp, tmp_path), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def grant(engine: Engine, clock: FrozenClock, email: str, role: Role) -> None:
    with unit_of_work(engine) as conn:
        users.grant(conn, email=email, role=role, now=clock.now(), actor="test")


# --- staff: Firebase ID tokens on the API ---------------------------------------------------


def test_a_firebase_user_with_a_role_claim_uses_the_api(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    token = idp.firebase(clock.now(), ct_role="maintainer")
    assert app_client.get("/events", headers=bearer(token)).status_code == 200


def test_without_a_role_a_valid_firebase_user_is_forbidden(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    answer = app_client.get("/health", headers=bearer(idp.firebase(clock.now())))
    assert answer.status_code == 403
    assert "ct users grant alice@swan.test" in answer.json()["error"]["message"]
    producer_claim = idp.firebase(clock.now(), ct_role="producer")
    assert app_client.get("/health", headers=bearer(producer_claim)).status_code == 403


def test_ct_users_grant_wins_over_the_claim_and_revoke_refuses(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    token = idp.firebase(clock.now(), email="Bob@Swan.test", ct_role="viewer")
    assert app_client.get("/events", headers=bearer(token)).status_code == 403
    grant(engine, clock, "bob@swan.test", Role.maintainer)
    assert app_client.get("/events", headers=bearer(token)).status_code == 200
    with unit_of_work(engine) as conn:
        users.revoke(conn, email="bob@swan.test", now=clock.now(), actor="test")
    assert app_client.get("/health", headers=bearer(token)).status_code == 403
    with unit_of_work(engine, write=False) as conn:
        actions = [
            (r.action, r.target)
            for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))
            if r.target.startswith("user:")
        ]
    assert actions == [
        ("user.granted", "user:bob@swan.test"),
        ("user.revoked", "user:bob@swan.test"),
    ]


def test_sign_out_everywhere_refuses_earlier_sign_ins_only(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    grant(engine, clock, "carol@swan.test", Role.viewer)
    before = idp.firebase(clock.now(), email="carol@swan.test")
    assert app_client.get("/health", headers=bearer(before)).status_code == 200
    with unit_of_work(engine) as conn:
        users.sign_out_everywhere(conn, email="carol@swan.test", now=clock.now(), actor="test")
    refused = app_client.get("/health", headers=bearer(before))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "signed_out"
    clock.advance(timedelta(minutes=1))
    after = idp.firebase(
        clock.now(), email="carol@swan.test", auth_time=int(clock.now().timestamp())
    )
    assert app_client.get("/health", headers=bearer(after)).status_code == 200


def test_an_unverified_email_gets_nothing(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    grant(engine, clock, "mallory@swan.test", Role.owner)
    token = idp.firebase(clock.now(), email="mallory@swan.test", email_verified=False)
    assert app_client.get("/health", headers=bearer(token)).status_code == 403


def refused_tokens(idp: GoogleIdP, clock: FrozenClock) -> dict[str, str]:
    now = clock.now()
    good = idp.firebase(now, ct_role="owner")
    claims = {
        "iss": FIREBASE_ISSUER, "aud": PROJECT, "sub": "uid-x", "email": "alice@swan.test",
        "email_verified": True, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600,
        "auth_time": int(now.timestamp()), "ct_role": "owner",
    }  # fmt: skip
    # Signed with a key Google does not publish, under a key id it does not list.
    unknown_kid = jwt.encode(claims, new_key(), algorithm="RS256", headers={"kid": "rogue"})
    return {
        "expired": idp.firebase(now - timedelta(hours=2), ct_role="owner"),
        "wrong audience": idp.firebase(now, ct_role="owner", aud="another-project"),
        "wrong issuer": idp.firebase(
            now, ct_role="owner", iss="https://securetoken.google.com/another-project"
        ),
        "unknown key id": unknown_kid,
        "tampered": tampered(good, email="owner@swan.test"),
        "alg none": unsigned(claims),
        "issued in the future": idp.firebase(now + timedelta(hours=1), ct_role="owner"),
        "no auth_time": idp.firebase(now, ct_role="owner", auth_time=None),
        "HS256 with the public key": _hs256_confusion(idp, now),
    }


def _hs256_confusion(idp: GoogleIdP, now: datetime) -> str:
    """HS256 keyed with Google's published certificate: the classic algorithm confusion."""
    header = b64url(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    claims = b64url(json.dumps({
        "iss": FIREBASE_ISSUER, "aud": PROJECT, "sub": "uid-x", "email": "alice@swan.test",
        "email_verified": True, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600,
        "auth_time": int(now.timestamp()), "ct_role": "owner",
    }).encode())  # fmt: skip
    key = certificate_pem(idp.keys["k1"]).encode()
    mac = hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(mac)}"


def test_bad_id_tokens_are_refused_with_401(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    good = idp.firebase(clock.now(), ct_role="owner")
    assert app_client.get("/health", headers=bearer(good)).status_code == 200
    for what, token in refused_tokens(idp, clock).items():
        answer = app_client.get("/health", headers=bearer(token))
        assert answer.status_code == 401, (what, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer", what


def test_keys_are_cached_for_their_max_age(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    for email in ("a@swan.test", "b@swan.test", "c@swan.test"):
        token = idp.firebase(clock.now(), email=email, ct_role="viewer")
        assert app_client.get("/health", headers=bearer(token)).status_code == 200
    assert idp.fetches["/x509"] == 1


def test_keys_are_fetched_again_when_the_answer_may_not_be_cached(
    settings: Settings, idp: GoogleIdP, tmp_path: Path, clock: FrozenClock
) -> None:
    idp.cache_control = "no-cache, no-store, max-age=0"
    app = create_app(identity_settings(settings, idp, tmp_path), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        for email in ("a@swan.test", "b@swan.test"):
            token = idp.firebase(clock.now(), email=email, ct_role="viewer")
            assert client.get("/health", headers=bearer(token)).status_code == 200
    assert idp.fetches["/x509"] == 2


def test_a_verified_token_is_cached_briefly(
    settings: Settings, idp: GoogleIdP, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> None:
    cached = identity_settings(settings, idp, tmp_path).model_copy(
        update={"token_cache_seconds": 60}
    )
    with TestClient(create_app(cached, clock=clock), raise_server_exceptions=False) as client:
        token = idp.firebase(clock.now(), email="dave@swan.test")
        grant(engine, clock, "dave@swan.test", Role.viewer)
        assert client.get("/health", headers=bearer(token)).status_code == 200
        idp.keys.clear()  # no key could verify it now: the answer comes from the cache
        assert client.get("/health", headers=bearer(token)).status_code == 200
        clock.advance(timedelta(hours=2))  # never past the token's own expiry
        assert client.get("/health", headers=bearer(token)).status_code == 401


def test_ct_tokens_never_take_the_jwt_path(
    app_client: TestClient, staff: Any, idp: GoogleIdP
) -> None:
    token = staff.tokens[Role.viewer].token
    assert "." not in token
    assert app_client.get("/health", headers=bearer(token)).status_code == 200
    assert idp.fetches == {"/x509": 0, "/jwks": 0}


def test_firebase_tokens_are_refused_when_not_configured(
    client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    answer = client.get("/health", headers=bearer(idp.firebase(clock.now(), ct_role="owner")))
    assert answer.status_code == 401


# --- staff: the UI's sign-in --------------------------------------------------------------


def ui_sign_in(client: TestClient, token: str) -> Any:
    form = client.get("/ui/login")
    return client.post(
        "/ui/login",
        data={"token": token, "csrf": csrf_of(form.text)},
        headers={"Origin": str(client.base_url)},
        follow_redirects=False,
    )


def test_a_firebase_id_token_signs_in_to_the_ui_until_signed_out_everywhere(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    grant(engine, clock, "erin@swan.test", Role.operator)
    answer = ui_sign_in(app_client, idp.firebase(clock.now(), email="erin@swan.test"))
    assert answer.status_code == 303, answer.text
    page = app_client.get("/ui/", follow_redirects=False)
    assert page.status_code == 200
    assert "erin@swan.test" in page.text
    with unit_of_work(engine) as conn:
        users.sign_out_everywhere(conn, email="erin@swan.test", now=clock.now(), actor="test")
    assert app_client.get("/ui/", follow_redirects=False).status_code == 303
    # An ID token from before the sign-out cannot open a new session either.
    again = ui_sign_in(app_client, idp.firebase(clock.now(), email="erin@swan.test"))
    assert again.status_code == 200
    assert "Firebase sign-in refused" in again.text
    clock.advance(timedelta(minutes=1))
    fresh = idp.firebase(
        clock.now(), email="erin@swan.test", auth_time=int(clock.now().timestamp())
    )
    assert ui_sign_in(app_client, fresh).status_code == 303
    assert app_client.get("/ui/", follow_redirects=False).status_code == 200


def test_the_ui_refuses_a_firebase_user_without_a_role(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock
) -> None:
    answer = ui_sign_in(app_client, idp.firebase(clock.now(), email="nobody@swan.test"))
    assert answer.status_code == 200
    assert "has no CT role" in answer.text


def test_firebase_session_rows_are_not_listed_as_tokens(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    ui_sign_in(app_client, idp.firebase(clock.now(), email="fay@swan.test", ct_role="viewer"))
    with unit_of_work(engine, write=False) as conn:
        assert [r["name"] for r in tokens.list_tokens(conn, clock.now())] == []


# --- producers: Google service accounts --------------------------------------------------


def sa_post(client: TestClient, token: str, secret: str | None, event: dict[str, Any]) -> Any:
    body = json.dumps(event).encode()
    headers = {**bearer(token), "Content-Type": "application/json"}
    if secret is not None:
        headers["X-CT-Signature"] = sign(secret, body)
    return client.post("/events", content=body, headers=headers)


def test_a_service_account_produces_as_its_token_and_still_signs(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    issued = issue_token(engine, "backend-sa", Role.producer, "backend", now=clock.now())
    token = idp.service_account(clock.now(), SA_EMAIL)
    assert sa_post(app_client, token, issued.hmac_secret, make_event()).status_code == 202
    unsigned_body = sa_post(app_client, token, None, make_event())
    assert unsigned_body.status_code == 401
    assert unsigned_body.json()["error"]["code"] == "signature_missing"
    assert sa_post(app_client, token, "whsec_wrong", make_event()).status_code == 401
    other_source = sa_post(
        app_client,
        token,
        issued.hmac_secret,
        make_event(
            source="finance",
            event_type="finance.payment.webhook",
            payload={"invoice_id": "i", "status_before": "a", "status_after": "b"},
        ),
    )
    assert other_source.status_code == 403
    # A staff route is not a producer's.
    assert app_client.get("/health", headers=bearer(token)).status_code == 403


def test_service_account_tokens_are_checked_like_firebase_ones(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    issued = issue_token(engine, "backend-sa", Role.producer, "backend", now=clock.now())
    now = clock.now()
    refused = {
        "wrong audience": idp.service_account(now, SA_EMAIL, aud="https://elsewhere.test"),
        "expired": idp.service_account(now - timedelta(hours=2), SA_EMAIL),
        "wrong issuer": idp.service_account(now, SA_EMAIL, iss="https://evil.test"),
        "unverified email": idp.service_account(now, SA_EMAIL, email_verified=False),
        "tampered": tampered(idp.service_account(now, SA_EMAIL), aud="x", email="x@y.test"),
        "a Firebase token": idp.firebase(now, email=SA_EMAIL, ct_role="producer"),
    }
    for what, token in refused.items():
        answer = sa_post(app_client, token, issued.hmac_secret, make_event())
        assert answer.status_code in (401, 403), (what, answer.text)
        if what != "a Firebase token":
            assert answer.status_code == 401, (what, answer.text)
    assert idp.fetches["/jwks"] == 1


def test_unknown_or_mismatched_service_accounts_are_refused(
    app_client: TestClient, idp: GoogleIdP, clock: FrozenClock, engine: Engine
) -> None:
    issued = issue_token(engine, "backend-sa", Role.producer, "backend", now=clock.now())
    issue_token(engine, "finance-sa", Role.producer, "finance", now=clock.now())
    now = clock.now()
    unknown = idp.service_account(now, "someone@else.iam.gserviceaccount.com")
    assert sa_post(app_client, unknown, issued.hmac_secret, make_event()).status_code == 403
    stray = idp.service_account(now, "stray@swan-prod.iam.gserviceaccount.com")
    answer = sa_post(app_client, stray, issued.hmac_secret, make_event())
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "wrong_source"
    with unit_of_work(engine) as conn:
        tokens.revoke_token(conn, name="backend-sa", now=now, actor="test")
    revoked = sa_post(app_client, idp.service_account(now, SA_EMAIL), issued.hmac_secret,
                      make_event())  # fmt: skip
    assert revoked.status_code == 401
