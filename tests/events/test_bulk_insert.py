"""The hand-written bulk inserts store what SQLAlchemy's column types read back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from control_tower.db import unit_of_work
from control_tower.events.ingest import occurred_isoformat, stored_time_text
from control_tower.events.repository import get_event, insert_events
from control_tower.events.schemas import EventIn
from control_tower.models.base import naive_utc_text


def row(event_id: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": event_id,
        "type": "backend.fn.error",
        "source": "backend",
        "occurred_at": datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
        "received_at": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "correlation_id": None,
        "payload": {"fn_name": "génère", "n": 3, "nested": {"list": [1, "two", None]}},
        "redactions": ["payload.email"],
        "payload_sha256": "a" * 64,
        "producer": "backend-producer",
    }
    base.update(extra)
    return base


def test_values_round_trip_and_outcomes(engine: Engine) -> None:
    # 300 rows cover several chunk sizes of the SQLite statement; one id repeats.
    rows = [row(f"bulk-{i}", correlation_id=f"run-{i}" if i % 2 else None) for i in range(300)]
    rows.append(row("bulk-7", payload_sha256="b" * 64))
    with unit_of_work(engine) as conn:
        outcomes = insert_events(conn, rows)
    assert [o.kind for o in outcomes[:300]] == ["accepted"] * 300
    assert outcomes[300].kind == "conflict"
    with unit_of_work(engine) as conn:
        again = insert_events(conn, rows[:3])
        stored = get_event(conn, "bulk-1")
    assert [o.kind for o in again] == ["duplicate"] * 3
    assert stored is not None
    assert stored.occurred_at == datetime(2026, 3, 28, 23, 30, 5, 123456, tzinfo=UTC)
    assert stored.received_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert stored.payload == rows[1]["payload"]
    assert stored.redactions == ["payload.email"]
    assert stored.correlation_id == "run-1"
    assert (stored.route_status, stored.route_attempts) == ("pending", 0)  # its routing job


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 26, 9, 59, tzinfo=UTC),
        datetime(2026, 11, 26, 9, 59, 0, 123, tzinfo=UTC),
        datetime(1, 1, 2, 0, 0, 0, 999999, tzinfo=UTC),
    ],
)
def test_the_stored_time_text_cut_from_isoformat_is_naive_utc_text(moment: datetime) -> None:
    assert stored_time_text(moment.isoformat()) == naive_utc_text(moment)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("occurred_at", "2026-11-26T09:59:00Z"),
        ("ts", "2026-11-26T09:59:00Z"),
        ("occurredAt", "2026-11-26T09:59:00Z"),
        ("occurred_at", "2026-11-26T09:59:00.120Z"),
        ("occurred_at", "2026-11-26T09:59:00.000Z"),
        ("occurred_at", "2026-11-26t09:59:00z"),
        ("occurred_at", "2026-11-26T10:59:00+01:00"),
        ("occurred_at", "2026-11-26 09:59:00Z"),
        ("occurred_at", "2026-11-26T09:59Z"),
    ],
)
def test_the_isoformat_cut_from_the_sent_text_is_the_formatted_one(field: str, text: str) -> None:
    raw = {"event_id": "e-1", "type": "backend.fn.error", "source": "backend", field: text}
    occurred_utc = EventIn.model_validate(raw).occurred_at.astimezone(UTC)
    assert occurred_isoformat(raw, occurred_utc) == occurred_utc.isoformat()
