"""POST /events authentication: bearer token, HMAC signature, timestamp, source binding.

Every refusal leaves the store unchanged: no event row and no audit row.
"""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.kit.signing import sign
from tests.helpers import Producer, Staff, assert_error, make_event, store_counts


def test_missing_signature_is_401(client: TestClient, producer: Producer, engine: Engine) -> None:
    before = store_counts(engine)
    body, headers = producer.signed(make_event())
    del headers["X-CT-Signature"]
    assert_error(client.post("/events", content=body, headers=headers), 401, "signature_missing")
    assert store_counts(engine) == before


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha256=not-hex",
        "0" * 64,
        "sha1=abc",
        "sha256=ü".encode("latin-1"),
    ],
)
def test_bad_signature_is_401(
    client: TestClient, producer: Producer, engine: Engine, signature: str | bytes
) -> None:
    before = store_counts(engine)
    body, signed_headers = producer.signed(make_event())
    headers: dict[str, str | bytes] = {**signed_headers, "X-CT-Signature": signature}
    response = client.post("/events", content=body, headers=headers)
    assert_error(response, 401, "bad_signature")
    assert store_counts(engine) == before


def test_signature_of_another_body_is_401(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body, _ = producer.signed(make_event())
    other, headers = producer.signed(make_event())
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_signature")
    # Re-serialising the same JSON differently changes the bytes, so it is not the same body.
    spaced = json.dumps(json.loads(other), indent=1).encode()
    assert_error(client.post("/events", content=spaced, headers=headers), 401, "bad_signature")
    assert store_counts(engine) == before


def test_another_producers_secret_is_401(
    client: TestClient, producer: Producer, engine: Engine, clock: FrozenClock
) -> None:
    from tests.conftest import issue_token

    other = Producer(
        issue_token(engine, "other-backend", Role.producer, "backend", now=clock.now())
    )
    before = store_counts(engine)
    body = json.dumps(make_event()).encode()
    headers = producer.headers(body)
    headers["X-CT-Signature"] = sign(other.secret, body)
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_signature")
    assert store_counts(engine) == before


def test_missing_or_unknown_token_is_401(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body, headers = producer.signed(make_event())
    del headers["Authorization"]
    response = client.post("/events", content=body, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    headers["Authorization"] = "Bearer ct_unknown"
    assert_error(client.post("/events", content=body, headers=headers), 401, "unauthorized")
    assert store_counts(engine) == before


@pytest.mark.parametrize("skew", [0, -290, 290])
def test_timestamp_within_tolerance_is_accepted(
    client: TestClient, producer: Producer, engine: Engine, skew: int
) -> None:
    body = json.dumps(make_event()).encode()
    timestamp = str(int(time.time()) + skew)
    headers = producer.headers(body, timestamp=timestamp)
    assert headers["X-CT-Signature"] == sign(producer.secret, f"{timestamp}.".encode() + body)
    response = client.post("/events", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert store_counts(engine).events == 1


@pytest.mark.parametrize("skew", [-400, 400, -86400])
def test_timestamp_outside_tolerance_is_401(
    client: TestClient, producer: Producer, engine: Engine, skew: int
) -> None:
    before = store_counts(engine)
    body = json.dumps(make_event()).encode()
    headers = producer.headers(body, timestamp=str(int(time.time()) + skew))
    error = assert_error(client.post("/events", content=body, headers=headers), 401)
    assert error["code"] == "stale_timestamp"
    assert store_counts(engine) == before


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", "", " ", "0x10", "1_764_150_000"])
def test_non_numeric_timestamp_is_401(
    client: TestClient, producer: Producer, engine: Engine, timestamp: str
) -> None:
    before = store_counts(engine)
    body = json.dumps(make_event()).encode()
    headers = producer.headers(body)
    headers["X-CT-Timestamp"] = timestamp
    headers["X-CT-Signature"] = sign(producer.secret, f"{timestamp}.".encode() + body)
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_timestamp")
    assert store_counts(engine) == before


@pytest.mark.parametrize("form", ["+{}", " {}", "{} ", "{}.0", "-{}"])
def test_a_timestamp_in_any_form_but_plain_digits_is_401(
    client: TestClient, producer: Producer, engine: Engine, form: str
) -> None:
    before = store_counts(engine)
    timestamp = form.format(int(time.time()))  # "now", but not written as plain digits
    body = json.dumps(make_event()).encode()
    headers = producer.headers(body)
    headers["X-CT-Timestamp"] = timestamp
    headers["X-CT-Signature"] = sign(producer.secret, f"{timestamp}.".encode() + body)
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_timestamp")
    assert store_counts(engine) == before


def test_timestamp_not_covered_by_the_signature_is_401(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body, headers = producer.signed(make_event())  # signed over the body alone
    headers["X-CT-Timestamp"] = str(int(time.time()))
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_signature")
    assert store_counts(engine) == before


def test_a_producer_cannot_send_another_sources_event(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    event = make_event(
        "finance.payment.webhook",
        source="finance",
        payload={"invoice_id": "inv-1", "status_before": "open", "status_after": "paid"},
    )
    body, headers = producer.signed(event)
    assert_error(client.post("/events", content=body, headers=headers), 403, "wrong_source")
    assert store_counts(engine) == before


@pytest.mark.parametrize("role", [Role.viewer, Role.operator, Role.maintainer, Role.owner])
def test_staff_tokens_cannot_post_events(
    client: TestClient, staff: Staff, engine: Engine, role: Role
) -> None:
    before = store_counts(engine)
    body = json.dumps(make_event()).encode()
    headers = {
        **staff.headers(role),
        "Content-Type": "application/json",
        "X-CT-Signature": sign("anything", body),
    }
    assert_error(client.post("/events", content=body, headers=headers), 403, "insufficient_role")
    assert_error(client.post("/events/batch", content=b'{"events": []}', headers=headers), 403)
    assert store_counts(engine) == before


def test_the_signature_is_checked_before_the_body_is_read_as_an_event(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    bad = "sha256=" + "0" * 64
    for body in (b"{not json", json.dumps(make_event(payload={})).encode()):
        headers = {**producer.headers(body), "X-CT-Signature": bad}
        assert_error(client.post("/events", content=body, headers=headers), 401, "bad_signature")
        headers["Content-Type"] = "text/plain"
        assert_error(client.post("/events", content=body, headers=headers), 401, "bad_signature")
    assert store_counts(engine) == before
