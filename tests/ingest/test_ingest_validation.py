"""POST /events input checks: envelope, payload schema, money, JSON, media type and size.

Each bad input gets a clear 4xx in the uniform error body and changes nothing in the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.app import create_app
from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.conftest import issue_token
from tests.helpers import Producer, Staff, assert_error, error_fields, make_event, store_counts


@pytest.fixture
def finance(engine: Engine, clock: FrozenClock) -> Producer:
    return Producer(
        issue_token(engine, "finance-producer", Role.producer, "finance", now=clock.now())
    )


def invoice(total: Any, vat: Any = None) -> dict[str, Any]:
    return make_event(
        "finance.invoice.generated",
        source="finance",
        payload={
            "invoice_id": "inv-1",
            "period": "2026-11",
            "total": total,
            "vat": vat if vat is not None else {"amount_minor": 200, "currency": "GBP"},
        },
    )


def post(client: TestClient, producer: Producer, event: Any) -> Any:
    body, headers = producer.signed(event)
    return client.post("/events", content=body, headers=headers)


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


ENVELOPE_CASES = {
    "missing event_id": (without(make_event(), "event_id"), "event_id"),
    "naive timestamp": (make_event(occurred_at="2026-11-26T09:59:00"), "occurred_at"),
    "not a timestamp": (make_event(occurred_at="yesterday"), "occurred_at"),
    "extra top-level field": (make_event(colour="red"), "colour"),
    "missing type": (without(make_event(), "type"), "type"),
    "bad event_id": (make_event(event_id="has spaces"), "event_id"),
    "payload not an object": (make_event(payload=[1, 2]), "payload"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=list(ENVELOPE_CASES))
def test_envelope_errors_are_422_naming_the_field(
    client: TestClient, producer: Producer, engine: Engine, case: str
) -> None:
    event, field = ENVELOPE_CASES[case]
    before = store_counts(engine)
    error = assert_error(post(client, producer, event), 422, "validation_failed")
    assert field in error_fields(error), error
    assert store_counts(engine) == before


def test_an_event_that_is_not_an_object_is_422(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    assert_error(post(client, producer, [make_event()]), 422)
    assert_error(post(client, producer, "event"), 422)
    assert store_counts(engine) == before


def test_unknown_event_type_is_422(client: TestClient, producer: Producer, engine: Engine) -> None:
    before = store_counts(engine)
    error = assert_error(
        post(client, producer, make_event("backend.no.such.type")), 422, "unknown_event_type"
    )
    assert error_fields(error) == ["type"]
    assert store_counts(engine) == before


def test_a_type_the_source_may_not_send_is_422(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    event = make_event("portal.upload.received", payload={"contractor_id": "c", "file_ref": "f"})
    error = assert_error(post(client, producer, event), 422)
    assert error_fields(error) == ["source"]
    assert store_counts(engine) == before


PAYLOAD_CASES = {
    "missing required": ({"severity": "high"}, ["payload.fn_name"]),
    "bad enum": ({"fn_name": "f", "severity": "apocalyptic"}, ["payload.severity"]),
    "wrong type": ({"fn_name": "f", "severity": "low", "stack_ref": 7}, ["payload.stack_ref"]),
    "two problems": ({"fn_name": "", "severity": 1}, ["payload.fn_name", "payload.severity"]),
}


@pytest.mark.parametrize("case", PAYLOAD_CASES, ids=list(PAYLOAD_CASES))
def test_payload_schema_errors_are_422_naming_payload_fields(
    client: TestClient, producer: Producer, engine: Engine, case: str
) -> None:
    payload, fields = PAYLOAD_CASES[case]
    before = store_counts(engine)
    error = assert_error(post(client, producer, make_event(payload=payload)), 422)
    assert sorted(set(error_fields(error))) == fields, error
    assert store_counts(engine) == before


def test_money_in_minor_units_is_accepted(
    client: TestClient, finance: Producer, engine: Engine
) -> None:
    response = post(client, finance, invoice({"amount_minor": 1250, "currency": "GBP"}))
    assert response.status_code == 202, response.text
    assert store_counts(engine).events == 1


@pytest.mark.parametrize(
    ("total", "field"),
    [
        ({"amount_minor": 12.5, "currency": "GBP"}, "payload.total.amount_minor"),
        ({"amount_minor": 1250.0, "currency": "GBP"}, "payload.total.amount_minor"),
        ({"amount": 12.5, "currency": "GBP"}, "payload.total"),
        ({"amount_minor": True, "currency": "GBP"}, "payload.total.amount_minor"),
        ({"amount_minor": "1250", "currency": "GBP"}, "payload.total.amount_minor"),
    ],
    ids=["fraction", "integral float", "float amount", "boolean", "string"],
)
def test_float_money_is_422(
    client: TestClient, finance: Producer, engine: Engine, total: Any, field: str
) -> None:
    before = store_counts(engine)
    error = assert_error(post(client, finance, invoice(total)), 422, "validation_failed")
    assert field in error_fields(error), error
    assert store_counts(engine) == before


def test_a_float_for_an_integer_field_is_refused_even_when_whole(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    event = make_event(
        "excel.timesheet.ingested",
        payload={"contractor_id": "c-1", "period": "2026-W48", "items": 1.0},
    )
    error = assert_error(post(client, producer, event), 422)
    assert error_fields(error) == ["payload.items"]
    assert store_counts(engine) == before
    event["payload"]["items"] = 1
    assert post(client, producer, event).status_code == 202


@pytest.mark.parametrize(
    "body",
    [b'{"event_id": "e1",', b"not json", b"\xff\xfe{}", b"", b'{"a": 1} trailing'],
    ids=["truncated", "text", "bad utf-8", "empty", "trailing"],
)
def test_malformed_json_is_400(
    client: TestClient, producer: Producer, engine: Engine, body: bytes
) -> None:
    before = store_counts(engine)
    response = client.post("/events", content=body, headers=producer.headers(body))
    assert_error(response, 400, "malformed_json")
    assert store_counts(engine) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400(
    client: TestClient, producer: Producer, engine: Engine, constant: str
) -> None:
    before = store_counts(engine)
    text = json.dumps(make_event(payload={"fn_name": "f", "severity": "low", "score": 0.5}))
    body = text.replace("0.5", constant).encode()
    assert constant.encode() in body
    response = client.post("/events", content=body, headers=producer.headers(body))
    assert_error(response, 400, "malformed_json")
    assert store_counts(engine) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None]
)
def test_wrong_content_type_is_415(
    client: TestClient, producer: Producer, engine: Engine, content_type: str | None
) -> None:
    before = store_counts(engine)
    body, headers = producer.signed(make_event())
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type
    response = client.post("/events", content=body, headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert store_counts(engine) == before


def test_json_content_type_with_charset_is_accepted(client: TestClient, producer: Producer) -> None:
    body, headers = producer.signed(make_event())
    headers["Content-Type"] = "application/json; charset=utf-8"
    assert client.post("/events", content=body, headers=headers).status_code == 202


def oversized_event(limit: int) -> bytes:
    event = make_event(payload={"fn_name": "f", "severity": "low", "stack_ref": "x" * limit})
    return json.dumps(event).encode()


def test_body_over_the_limit_is_413_with_content_length(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body = oversized_event(256 * 1024)
    response = client.post("/events", content=body, headers=producer.headers(body))
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": 256 * 1024}
    assert store_counts(engine) == before


def test_body_over_the_limit_is_413_when_chunked(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body = oversized_event(256 * 1024)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            sent.append(start)
            yield body[start : start + 16 * 1024]

    headers = producer.headers(body)
    request = client.build_request("POST", "/events", content=chunks(), headers=headers)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    assert_error(response, 413, "payload_too_large")
    assert sent  # the body really was streamed
    assert store_counts(engine) == before


def test_a_chunked_body_under_the_limit_is_accepted(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    body, headers = producer.signed(make_event())

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    request = client.build_request("POST", "/events", content=chunks(), headers=headers)
    assert "content-length" not in request.headers
    response = client.send(request)
    assert response.status_code == 202, response.text
    assert store_counts(engine).events == 1


def test_size_is_checked_before_the_token(client: TestClient, engine: Engine) -> None:
    before = store_counts(engine)
    body = oversized_event(256 * 1024)
    response = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413)
    assert store_counts(engine) == before


def test_a_lower_configured_limit_applies(
    settings: Settings, producer: Producer, engine: Engine, clock: FrozenClock
) -> None:
    small_settings = settings.model_copy(update={"max_event_bytes": 1024})
    before = store_counts(engine)
    app = create_app(small_settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as small:
        body = oversized_event(1024)
        assert_error(small.post("/events", content=body, headers=producer.headers(body)), 413)
        ok, headers = producer.signed(make_event())
        assert len(ok) < 1024
        assert small.post("/events", content=ok, headers=headers).status_code == 202
    assert store_counts(engine).events == before.events + 1


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"],
    ids=["before year 1 in UTC", "after year 9999 in UTC"],
)
def test_a_timestamp_with_no_utc_instant_is_422(
    client: TestClient, producer: Producer, engine: Engine, occurred_at: str
) -> None:
    before = store_counts(engine)
    error = assert_error(post(client, producer, make_event(occurred_at=occurred_at)), 422)
    assert error_fields(error) == ["occurred_at"]
    assert store_counts(engine) == before


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"child": value}
    return value


@pytest.mark.parametrize("depth", [70, 900])
def test_deeply_nested_json_is_400(
    client: TestClient, producer: Producer, engine: Engine, depth: int
) -> None:
    before = store_counts(engine)
    event = make_event(payload={"fn_name": "f", "severity": "low", "extra": nested(depth)})
    body = json.dumps(event).encode()
    response = client.post("/events", content=body, headers=producer.headers(body))
    assert_error(response, 400, "json_too_deep")
    assert store_counts(engine) == before


def test_json_too_deep_for_the_parser_is_400(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/events", content=body, headers=producer.headers(body))
    assert_error(response, 400, "json_too_deep")
    assert store_counts(engine) == before


def test_nesting_within_the_limit_is_accepted(client: TestClient, producer: Producer) -> None:
    event = make_event(payload={"fn_name": "f", "severity": "low", "extra": nested(50)})
    assert post(client, producer, event).status_code == 202


def test_a_batch_of_many_shallow_events_is_not_mistaken_for_deep_json(
    client: TestClient, producer: Producer
) -> None:
    # 80 events hold far more than 64 brackets in all, yet none nests deeper than three.
    events = [make_event(event_id=f"shallow-{i}") for i in range(80)]
    body, headers = producer.signed({"events": events})
    response = client.post("/events/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 80


def test_one_deep_event_in_a_batch_refuses_the_body(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    deep = make_event(payload={"fn_name": "f", "severity": "low", "extra": nested(70)})
    events = [make_event(event_id=f"ok-{i}") for i in range(5)] + [deep]
    body, headers = producer.signed({"events": events})
    assert_error(client.post("/events/batch", content=body, headers=headers), 400, "json_too_deep")
    assert store_counts(engine) == before


def test_integers_beyond_64_bits_are_stored_exactly(
    client: TestClient, producer: Producer, staff: Staff
) -> None:
    # The fast parser would turn these into floats; the body takes the exact path instead.
    big, negative = 123456789012345678901234567, -98765432109876543210
    event = make_event(payload={"fn_name": "f", "severity": "low", "big": big, "neg": negative})
    assert post(client, producer, event).status_code == 202
    stored = client.get(f"/events/{event['event_id']}", headers=staff.headers(Role.maintainer))
    assert stored.status_code == 200, stored.text
    payload = json.loads(stored.text)["payload"]
    assert (payload["big"], payload["neg"]) == (big, negative)


UNSTORABLE = {
    "lone surrogate in a value": ('"stack_ref": "\\ud800"', "malformed_json"),
    "lone surrogate in a key": ('"\\udfff": "x"', "malformed_json"),
    "NUL in a value": ('"stack_ref": "a\\u0000b"', "unsupported_character"),
    "NUL in a key": ('"k\\u0000": "x"', "unsupported_character"),
    "number beyond float": ('"score": 1e400', "malformed_json"),
    "negative number beyond float": ('"score": -1e400', "malformed_json"),
}


@pytest.mark.parametrize("case", UNSTORABLE, ids=list(UNSTORABLE))
def test_json_that_parses_but_cannot_be_stored_is_400(
    client: TestClient, producer: Producer, engine: Engine, case: str
) -> None:
    fragment, code = UNSTORABLE[case]
    before = store_counts(engine)
    event = make_event(payload={"fn_name": "f", "severity": "low", "placeholder": 1})
    body = json.dumps(event).replace('"placeholder": 1', fragment).encode()
    response = client.post("/events", content=body, headers=producer.headers(body))
    assert_error(response, 400, code)
    batch = b'{"events": [' + body + b"]}"
    response = client.post("/events/batch", content=batch, headers=producer.headers(batch))
    assert_error(response, 400, code)
    assert store_counts(engine) == before
