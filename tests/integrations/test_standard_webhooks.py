"""Standard Webhooks on ingest: `POST /events` (and the batch) accept `webhook-id`,
`webhook-timestamp` and `webhook-signature` instead of X-CT-Signature, keyed by the producer's
signing secret as the specification derives keys (base64 of the part after `whsec_`), checked
against the specification's published vector and signed here by the `standardwebhooks` package
itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from control_tower.ingest.signature import (
    WebhookHeaders,
    standard_webhooks_key,
    verify_standard_webhook,
)
from control_tower.kit.clock import FrozenClock
from control_tower.kit.errors import Unauthorized
from tests.helpers import Producer, make_event

# The specification's verified test vector (shared/REFERENCE.md, "Signatures").
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_vector_with_ct_and_with_the_package() -> None:
    key = standard_webhooks_key(VECTOR_SECRET)
    message = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    ours = "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    assert ours == VECTOR_SIGNATURE
    package = Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC), VECTOR_BODY.decode()
    )
    assert package == VECTOR_SIGNATURE
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    headers = WebhookHeaders(VECTOR_ID, str(VECTOR_TIMESTAMP), VECTOR_SIGNATURE)
    verify_standard_webhook(VECTOR_BODY, headers, [VECTOR_SECRET], at, 300)
    with pytest.raises(Unauthorized):
        verify_standard_webhook(VECTOR_BODY + b" ", headers, [VECTOR_SECRET], at, 300)
    with pytest.raises(Unauthorized):
        verify_standard_webhook(
            VECTOR_BODY, headers, [VECTOR_SECRET], at + timedelta(minutes=6), 300
        )


def test_ct_secrets_are_keys_the_package_accepts() -> None:
    """CT's secrets are `whsec_<64 hex>`: valid base64, so any Standard Webhooks library takes
    them as they are, and derives the key CT derives."""
    secret = "whsec_" + "0123456789abcdef" * 4
    assert Webhook(secret)._whsecret == standard_webhooks_key(secret)
    assert len(standard_webhooks_key(secret)) == 48


def sw_headers(
    token: str, secret: str, body: bytes, at: datetime, msg_id: str = "msg_1", **extra: str
) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
        **extra,
    }


def post_sw(
    client: TestClient, token: str, secret: str, clock: FrozenClock, event: Any = None
) -> Any:
    body = json.dumps(event or make_event()).encode()
    return client.post(
        "/events", content=body, headers=sw_headers(token, secret, body, clock.now())
    )


def test_a_standard_webhooks_sender_produces(
    client: TestClient, producer: Producer, clock: FrozenClock
) -> None:
    event = make_event()
    answer = post_sw(client, producer.token, producer.secret, clock, event)
    assert answer.status_code == 202, answer.text
    assert answer.json()["event_id"] == event["event_id"]


def test_the_body_event_id_stays_the_idempotency_key(
    client: TestClient, producer: Producer, clock: FrozenClock
) -> None:
    body = json.dumps(make_event()).encode()
    first = sw_headers(producer.token, producer.secret, body, clock.now(), msg_id="msg_a")
    again = sw_headers(producer.token, producer.secret, body, clock.now(), msg_id="msg_b")
    assert client.post("/events", content=body, headers=first).status_code == 202
    repeat = client.post("/events", content=body, headers=again)
    assert repeat.status_code == 200
    assert repeat.json()["duplicate"] is True


def test_any_v1_signature_may_match(
    client: TestClient, producer: Producer, clock: FrozenClock
) -> None:
    body = json.dumps(make_event()).encode()
    headers = sw_headers(producer.token, producer.secret, body, clock.now())
    good = headers["webhook-signature"]
    wrong = Webhook("whsec_" + "ab" * 24).sign("msg_1", clock.now(), body.decode())
    headers["webhook-signature"] = f"v1a,c2lnbmVkIGVsc2V3aGVyZQ== {wrong} v1,@@@ {good}"
    assert client.post("/events", content=body, headers=headers).status_code == 202


def test_the_batch_route_accepts_it_too(
    client: TestClient, producer: Producer, clock: FrozenClock
) -> None:
    body = json.dumps({"events": [make_event(), make_event()]}).encode()
    headers = sw_headers(producer.token, producer.secret, body, clock.now())
    answer = client.post("/events/batch", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"webhook-signature": "v1,AAAA"}, "bad_signature"),
        ({"webhook-signature": "v2,abc"}, "bad_signature"),
        ({"webhook-id": ""}, "bad_signature"),
        ({"webhook-timestamp": "soon"}, "bad_timestamp"),
        ({"webhook-timestamp": None}, "bad_timestamp"),
        ({"webhook-id": None}, "bad_signature"),
        ({"X-CT-Signature": "sha256=" + "0" * 64}, "bad_signature"),
    ],
)
def test_bad_standard_webhooks_headers_are_401(
    client: TestClient,
    producer: Producer,
    clock: FrozenClock,
    change: dict[str, str | None],
    code: str,
) -> None:
    body = json.dumps(make_event()).encode()
    headers: dict[str, str] = sw_headers(producer.token, producer.secret, body, clock.now())
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    answer = client.post("/events", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == code


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_over_five_minutes_away_is_refused(
    client: TestClient, producer: Producer, clock: FrozenClock, skew: timedelta
) -> None:
    body = json.dumps(make_event()).encode()
    headers = sw_headers(producer.token, producer.secret, body, clock.now() + skew)
    answer = client.post("/events", content=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "stale_timestamp"
    within = sw_headers(producer.token, producer.secret, body, clock.now() + skew / 2)
    assert client.post("/events", content=body, headers=within).status_code == 202


def test_another_producers_secret_does_not_verify(
    client: TestClient, producer: Producer, clock: FrozenClock
) -> None:
    body = json.dumps(make_event()).encode()
    headers = sw_headers(producer.token, "whsec_" + "cd" * 32, body, clock.now())
    answer = client.post("/events", content=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "bad_signature"


def test_several_secrets_are_tried_in_turn() -> None:
    now = datetime.now(UTC)
    secret = "whsec_" + "ef" * 32
    body = b"{}"
    headers = WebhookHeaders("m", str(int(now.timestamp())), Webhook(secret).sign("m", now, "{}"))
    verify_standard_webhook(body, headers, ["whsec_" + "12" * 32, secret], now, 300)
