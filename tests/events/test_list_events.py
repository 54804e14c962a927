"""GET /events: filters, newest-first keyset pages that stay stable, and its errors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.catalog import load_default_catalog
from control_tower.db import unit_of_work
from control_tower.ingest.internal import emit_events
from tests.helpers import Staff, assert_error, make_event

# Yesterday's hour by the process clock (the clock the suite's `clock` fixture starts from).
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
PLUS_ONE = timezone(timedelta(hours=1))


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def seed(engine: Engine, raw_events: list[dict[str, Any]]) -> None:
    """Store events through CT's own ingest path (validation, redaction, idempotent insert)."""
    with unit_of_work(engine) as conn:
        emit_events(
            conn, load_default_catalog(), raw_events, producer="seed", now=datetime.now(UTC)
        )


def numbered(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [make_event(event_id=f"evt-{n:03d}", occurred_at=at(n)) for n in range(start, count)]


def ids(page: dict[str, Any]) -> list[str]:
    return [item["event_id"] for item in page["items"]]


def get(client: TestClient, staff: Staff, **params: Any) -> dict[str, Any]:
    response = client.get("/events", params=params, headers=staff.headers(Role.maintainer))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.fixture
def mixed(engine: Engine) -> None:
    seed(
        engine,
        [
            make_event(event_id="a", occurred_at=at(0), correlation_id="run-1"),
            make_event(
                "excel.timesheet.ingested",
                event_id="b",
                occurred_at=at(10),
                payload={"contractor_id": "c", "period": "2026-11", "items": 3},
                correlation_id="run-1",
            ),
            make_event(
                "finance.payment.webhook",
                source="finance",
                event_id="c",
                occurred_at=at(20),
                payload={"invoice_id": "i", "status_before": "open", "status_after": "paid"},
            ),
            make_event(event_id="d", occurred_at=at(30), correlation_id="run-2"),
        ],
    )


@pytest.mark.usefixtures("mixed")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["d", "c", "b", "a"]),
        ({"type": "backend.fn.error"}, ["d", "a"]),
        ({"type": "no.such.type"}, []),
        ({"source": "finance"}, ["c"]),
        ({"source": "backend"}, ["d", "b", "a"]),
        ({"correlation_id": "run-1"}, ["b", "a"]),
        ({"since": at(10)}, ["d", "c", "b"]),
        ({"until": at(10)}, ["a"]),
        ({"since": at(10), "until": at(30)}, ["c", "b"]),
        ({"since": (T0 + timedelta(minutes=10)).astimezone(PLUS_ONE).isoformat()}, ["d", "c", "b"]),
        ({"type": "backend.fn.error", "correlation_id": "run-2"}, ["d"]),
    ],
)
def test_filters(
    client: TestClient, staff: Staff, params: dict[str, str], expected: list[str]
) -> None:
    page = get(client, staff, **params)
    assert ids(page) == expected
    assert page["next_cursor"] is None


def test_pages_are_newest_first_and_the_last_has_no_cursor(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    seed(engine, numbered(7))
    first = get(client, staff, limit=3)
    assert ids(first) == ["evt-006", "evt-005", "evt-004"]
    second = get(client, staff, limit=3, cursor=first["next_cursor"])
    assert ids(second) == ["evt-003", "evt-002", "evt-001"]
    last = get(client, staff, limit=3, cursor=second["next_cursor"])
    assert ids(last) == ["evt-000"]
    assert last["next_cursor"] is None
    exact = get(client, staff, limit=7)
    assert len(ids(exact)) == 7
    assert exact["next_cursor"] is None


def test_pages_stay_stable_when_events_arrive_between_fetches(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    seed(engine, numbered(10))
    seen: list[str] = []
    page = get(client, staff, limit=4)
    seen += ids(page)
    arrivals = 0
    while page["next_cursor"]:
        # New events land between page fetches, including one that happened "earlier".
        seed(engine, [make_event(event_id=f"new-{arrivals}", occurred_at=at(-60))])
        arrivals += 1
        page = get(client, staff, limit=4, cursor=page["next_cursor"])
        seen += ids(page)
    assert seen == [f"evt-{n:03d}" for n in range(9, -1, -1)]
    assert arrivals == 2
    assert ids(get(client, staff, limit=2)) == ["new-1", "new-0"]


def test_filtered_pages_follow_the_filter(client: TestClient, staff: Staff, engine: Engine) -> None:
    seed(engine, numbered(6))
    seed(
        engine,
        [
            make_event(event_id=f"corr-{n}", correlation_id="run-9", occurred_at=at(n))
            for n in range(5)
        ],
    )
    seen: list[str] = []
    page = get(client, staff, limit=2, correlation_id="run-9")
    seen += ids(page)
    while page["next_cursor"]:
        page = get(client, staff, limit=2, correlation_id="run-9", cursor=page["next_cursor"])
        seen += ids(page)
    assert seen == [f"corr-{n}" for n in range(4, -1, -1)]


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_CURSORS = {
    "not base64": "not a cursor!",
    "percent signs": "%%%",
    "object": b64({"seq": 3}),
    "string seq": b64(["3"]),
    "two keys": b64([1, 2]),
    "empty list": b64([]),
    "string": b64("x"),
    "over bigint": b64([10**30]),
    "under bigint": b64([-(10**30)]),
    "zero": b64([0]),
    "boolean": b64([True]),
    "float": b64([1.5]),
}


@pytest.mark.parametrize("path", ["/events", "/dlq", "/runs"])
@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=list(BAD_CURSORS))
def test_a_bad_cursor_is_400_on_every_keyset_list(
    client: TestClient, staff: Staff, cursor: str, path: str
) -> None:
    response = client.get(path, params={"cursor": cursor}, headers=staff.headers(Role.maintainer))
    assert_error(response, 400, "bad_cursor")


@pytest.mark.parametrize("limit", ["501", "0", "-1", "many"])
def test_a_limit_out_of_range_is_422(client: TestClient, staff: Staff, limit: str) -> None:
    response = client.get("/events", params={"limit": limit}, headers=staff.headers(Role.owner))
    error = assert_error(response, 422, "validation_failed")
    assert error["details"][0]["field"] == "query.limit"


def test_limit_500_is_allowed(client: TestClient, staff: Staff) -> None:
    assert get(client, staff, limit=500)["items"] == []


@pytest.mark.parametrize("name", ["since", "until"])
def test_naive_since_or_until_is_422(client: TestClient, staff: Staff, name: str) -> None:
    response = client.get(
        "/events", params={name: "2026-11-26T09:00:00"}, headers=staff.headers(Role.maintainer)
    )
    assert_error(response, 422, "validation_failed")


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.viewer, 403), (Role.operator, 403), (Role.maintainer, 200), (Role.owner, 200)],
)
def test_reading_events_needs_maintainer(
    client: TestClient, staff: Staff, role: Role, status: int
) -> None:
    listed = client.get("/events", headers=staff.headers(role))
    one = client.get("/events/nope", headers=staff.headers(role))
    if status == 403:
        assert_error(listed, 403, "insufficient_role")
        assert_error(one, 403, "insufficient_role")
    else:
        assert listed.status_code == 200
        assert_error(one, 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [{"since": "0001-01-01T00:00:00+01:00"}, {"until": "9999-12-31T23:59:59-01:00"}],
    ids=["since before year 1", "until after 9999"],
)
def test_instants_the_store_cannot_take_are_422(
    client: TestClient, staff: Staff, params: dict[str, str]
) -> None:
    response = client.get("/events", params=params, headers=staff.headers(Role.maintainer))
    error = assert_error(response, 422, "validation_failed")
    assert [d["field"] for d in error["details"]] == [f"query.{name}" for name in params]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "backend\x00.fn.error"},
        {"source": "back\x00end"},
        {"correlation_id": "run\x001"},
    ],
    ids=["NUL type", "NUL source", "NUL correlation"],
)
def test_a_nul_in_a_filter_is_400(client: TestClient, staff: Staff, params: dict[str, str]) -> None:
    # PostgreSQL cannot compare text holding U+0000: refused for every route in one place.
    response = client.get("/events", params=params, headers=staff.headers(Role.maintainer))
    assert_error(response, 400, "unsupported_character")


def test_an_event_id_with_nul_is_400(client: TestClient, staff: Staff) -> None:
    response = client.get("/events/evt%00x", headers=staff.headers(Role.maintainer))
    assert_error(response, 400, "unsupported_character")
