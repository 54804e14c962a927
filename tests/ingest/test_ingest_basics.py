"""The idempotency contract of POST /events on both stores."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from control_tower.kit.clock import FrozenClock
from control_tower.models import events
from tests.helpers import Producer, make_event


def count_events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_first_delivery_202_then_duplicate_200_then_conflict_409(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    event = make_event(event_id="evt-1")
    body, headers = producer.signed(event)
    first = client.post("/events", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "event_id": "evt-1",
        "status": "accepted",
        "duplicate": False,
        "redactions": [],
    }
    again = client.post("/events", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    changed = dict(event, payload={"fn_name": "other", "severity": "low"})
    body2, headers2 = producer.signed(changed)
    conflict = client.post("/events", content=body2, headers=headers2)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "event_id_conflict"
    assert count_events(engine) == 1


def test_camel_case_aliases_are_the_same_event(
    client: TestClient, producer: Producer, engine: Engine, clock: FrozenClock
) -> None:
    at = clock.now() - timedelta(minutes=1)
    snake = make_event(event_id="evt-alias", correlation_id="run-1", occurred_at=at)
    camel = {
        "eventId": snake["event_id"],
        "type": snake["type"],
        "ts": at.astimezone(timezone(timedelta(hours=1))).isoformat(),  # another offset
        "source": snake["source"],
        "correlationId": "run-1",
        "payload": snake["payload"],
    }
    body, headers = producer.signed(camel)
    assert client.post("/events", content=body, headers=headers).status_code == 202
    body, headers = producer.signed(snake)
    second = client.post("/events", content=body, headers=headers)
    assert second.status_code == 200, second.text
    assert second.json()["duplicate"] is True
    assert count_events(engine) == 1


def test_stored_event_reads_back_in_snake_case(
    client: TestClient, producer: Producer, staff: object
) -> None:
    from control_tower.auth.roles import Role
    from tests.helpers import Staff

    assert isinstance(staff, Staff)
    body, headers = producer.signed({**make_event(event_id="evt-read"), "correlationId": "c-9"})
    body = json.dumps(json.loads(body)).encode()
    assert client.post("/events", content=body, headers=headers).status_code == 202
    listed = client.get("/events", headers=staff.headers(Role.maintainer))
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["event_id"] == "evt-read"
    assert item["correlation_id"] == "c-9"
    assert item["ingest"]["status"] == "accepted"
    assert "eventId" not in item
