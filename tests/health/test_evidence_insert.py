"""Evidence rows: written once per (system, kind, event) on both stores, times kept exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, select

from control_tower.db import unit_of_work
from control_tower.health.rollups import _evidence, _insert_evidence, _newest_evidence
from control_tower.models import health_evidence


def test_repeats_are_ignored_and_times_round_trip(engine: Engine) -> None:
    at = datetime(2026, 11, 26, 9, 59, 1, 123456, tzinfo=timezone(timedelta(hours=1)))
    rows = _newest_evidence(
        [_evidence("backend", "error", {"event_id": f"ev-{i}"}, at) for i in range(3)]
    )
    with unit_of_work(engine) as conn:
        _insert_evidence(conn, [*rows, rows[0]])  # a repeat inside one call
    [slow] = _newest_evidence([_evidence("backend", "slow", {"event_id": "ev-1"}, at)])
    with unit_of_work(engine) as conn:
        _insert_evidence(conn, [rows[1], slow])  # and across calls
    with engine.connect() as conn:
        stored = sorted(
            (r.kind, r.event_id, r.occurred_at) for r in conn.execute(select(health_evidence))
        )
    expected_at = datetime(2026, 11, 26, 8, 59, 1, 123456, tzinfo=UTC)
    assert stored == [
        ("error", "ev-0", expected_at),
        ("error", "ev-1", expected_at),
        ("error", "ev-2", expected_at),
        ("slow", "ev-1", expected_at),
    ]


def test_a_pass_keeps_the_newest_evidence_of_each_system_and_kind() -> None:
    base = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    errors = [
        _evidence("backend", "error", {"event_id": f"e{n}"}, base + timedelta(seconds=n))
        for n in (3, 11, 0, 7, 9, 1, 10, 2, 8)
    ]
    slow = [_evidence("website", "slow", {"event_id": "s1"}, base)]
    kept = _newest_evidence(errors + slow)
    assert sorted(e[2] for e in kept if e[1] == "error") == ["e10", "e11", "e7", "e8", "e9"]
    assert [e[2] for e in kept if e[1] == "slow"] == ["s1"]
