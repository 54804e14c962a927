"""Every failure answers the same JSON body: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from tests.conftest import issue_token
from tests.helpers import Producer, Staff, assert_error, make_event

Request = Callable[[TestClient, Producer, Staff, Engine, FrozenClock], Any]


def malformed_json(
    client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.post("/events", content=b"{", headers=producer.headers(b"{"))


def bad_cursor(client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock) -> Any:
    return client.get("/events?cursor=zzz", headers=staff.headers(Role.maintainer))


def no_token(client: TestClient, _p: Producer, _s: Staff, _e: Engine, _c: FrozenClock) -> Any:
    return client.get("/events")


def unsigned(client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock) -> Any:
    body, headers = producer.signed(make_event())
    del headers["X-CT-Signature"]
    return client.post("/events", content=body, headers=headers)


def viewer_reads_events(
    client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.get("/events", headers=staff.headers(Role.viewer))


def unknown_route(
    client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.get("/no/such/route", headers=staff.headers(Role.owner))


def unknown_event(
    client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.get("/events/evt-missing", headers=staff.headers(Role.maintainer))


def wrong_method(
    client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.delete("/events", headers=staff.headers(Role.owner))


def conflict(client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock) -> Any:
    body, headers = producer.signed(make_event(event_id="evt-x"))
    assert client.post("/events", content=body, headers=headers).status_code == 202
    other = make_event(event_id="evt-x", payload={"fn_name": "g", "severity": "low"})
    body, headers = producer.signed(other)
    return client.post("/events", content=body, headers=headers)


def too_large(
    client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    body = json.dumps(make_event(payload={"stack_ref": "x" * 300_000})).encode()
    return client.post("/events", content=body, headers=producer.headers(body))


def not_json(client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock) -> Any:
    body, headers = producer.signed(make_event())
    return client.post("/events", content=body, headers={**headers, "Content-Type": "text/csv"})


def invalid_event(
    client: TestClient, producer: Producer, _s: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    body, headers = producer.signed(make_event(payload={"severity": "x"}))
    return client.post("/events", content=body, headers=headers)


def invalid_query(
    client: TestClient, _p: Producer, staff: Staff, _e: Engine, _c: FrozenClock
) -> Any:
    return client.get("/events?limit=9999", headers=staff.headers(Role.maintainer))


def rate_limited(
    client: TestClient, _p: Producer, _s: Staff, engine: Engine, clock: FrozenClock
) -> Any:
    token = issue_token(
        engine, "one-shot", Role.viewer, now=clock.now(), rate_per_minute=1, burst=1
    )
    headers = {"Authorization": f"Bearer {token.token}"}
    assert client.get("/metrics", headers=headers).status_code == 200
    return client.get("/metrics", headers=headers)


CASES: dict[str, tuple[Request, int, str]] = {
    "400 malformed json": (malformed_json, 400, "malformed_json"),
    "400 bad cursor": (bad_cursor, 400, "bad_cursor"),
    "401 no token": (no_token, 401, "unauthorized"),
    "401 unsigned": (unsigned, 401, "signature_missing"),
    "403 role": (viewer_reads_events, 403, "insufficient_role"),
    "404 unknown route": (unknown_route, 404, "not_found"),
    "404 unknown event": (unknown_event, 404, "not_found"),
    "405 wrong method": (wrong_method, 405, "method_not_allowed"),
    "409 conflict": (conflict, 409, "event_id_conflict"),
    "413 too large": (too_large, 413, "payload_too_large"),
    "415 not json": (not_json, 415, "unsupported_media_type"),
    "422 invalid event": (invalid_event, 422, "validation_failed"),
    "422 invalid query": (invalid_query, 422, "validation_failed"),
    "429 rate limited": (rate_limited, 429, "rate_limited"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_uniform_error_body(
    client: TestClient,
    producer: Producer,
    staff: Staff,
    engine: Engine,
    clock: FrozenClock,
    case: str,
) -> None:
    request, status, code = CASES[case]
    response = request(client, producer, staff, engine, clock)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    assert_error(response, status, code)
    if status == 429:
        assert int(response.headers["Retry-After"]) >= 1
