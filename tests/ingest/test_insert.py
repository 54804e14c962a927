"""The idempotent insert stores what SQLAlchemy's column types read back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from control_tower.db import unit_of_work
from control_tower.events.repository import get_event
from control_tower.ingest.repository import insert_events


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
    # 300 rows: more than one statement of insertmanyvalues on SQLite; one id repeats.
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


def test_a_row_that_breaks_a_constraint_fails_the_insert_instead_of_vanishing(
    engine: Engine,
) -> None:
    """Only an event_id conflict is skipped: any other refusal fails the commit, so no event
    is acknowledged that the store did not keep."""
    with pytest.raises(IntegrityError), unit_of_work(engine) as conn:
        insert_events(conn, [row("broken", payload_sha256=None)])  # type: ignore[list-item]
    with unit_of_work(engine, write=False) as conn:
        assert get_event(conn, "broken") is None
