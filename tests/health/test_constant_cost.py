"""Health costs the same whatever the size of the event history — proved without a stopwatch.

Every SQL statement `service.overview()` sends is captured: none reads the event history (only
rollups, state and evidence), their number is bounded by the catalogue, not by the events, and
the database answers each one through an index (EXPLAIN on the exact statements and
parameters that ran), not a scan of the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import service
from control_tower.health.schemas import HealthStatus
from control_tower.kit.clock import FrozenClock
from control_tower.models import health_evidence, system_rollups, system_state
from control_tower.routing.router import Router
from tests.helpers import Emit

THURSDAY_10 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
# CT's own system also reads its own small tables (health/objectives.py): the latest backup,
# token ages and the notification outbox — bounded by the catalogue, never by the events.
HEALTH_TABLES = {
    "system_rollups",
    "system_state",
    "health_evidence",
    "backup_runs",
    "tokens",
    "notifications",
    "notification_attempts",
}
_TABLE = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)

Statement = tuple[str, Any]


@contextmanager
def captured(engine: Engine) -> Iterator[list[Statement]]:
    """Every statement (and its parameters, as sent to the driver) run on `engine` meanwhile."""
    seen: list[Statement] = []

    def listener(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def tables_of(statement: str) -> set[str]:
    return {name.lower() for name in _TABLE.findall(statement)}


def overview_statements(engine: Engine, catalog: Catalog, now: datetime) -> list[Statement]:
    with captured(engine) as seen, unit_of_work(engine, write=False) as conn:
        result = service.overview(conn, catalog, now)
    assert result.systems, "the overview evaluated no system"
    return [(sql, params) for sql, params in seen if tables_of(sql)]


def emit_history(emit: Emit, count: int) -> None:
    """A mix of every health signal: heartbeats, errors, late arrivals, runs, plain events."""
    for i in range(count):
        kind = i % 7
        if kind == 0:
            emit("system.heartbeat", "backend", {"system_id": "backend"})
        elif kind == 1:
            emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"})
        elif kind == 2:
            emit(
                "portal.upload.received", "portal", {"contractor_id": "c1", "file_ref": f"u{i}"},
                late=timedelta(minutes=20),
            )  # fmt: skip
        elif kind == 3:
            emit(
                "ct.run.completed", "ct",
                {"run_id": f"r{i}", "trigger": "t", "status": "failed" if i % 4 else "success",
                 "system_id": "finance"},
                correlation_id=f"r{i}",
            )  # fmt: skip
        elif kind == 4:
            emit("ci.workflow.failed", "github", {"repo": "r", "run_id": i, "job": "j", "url": "u"})
        elif kind == 5:
            emit("website.form.submitted", "website", {"form_id": "contact"}, late=timedelta(0))
        else:
            emit("desktop.trigger.contract", "desktop", {"contractor_id": "c1", "contract_id": "k"})


def test_overview_reads_only_rollups_state_and_evidence(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    emit_history(emit, 70)
    assert router.drain().routed == 70

    statements = overview_statements(engine, catalog, clock.now())

    read = set().union(*(tables_of(sql) for sql, _ in statements))
    assert "events" not in read
    assert "event_routes" not in read
    assert read <= HEALTH_TABLES, f"overview read {sorted(read - HEALTH_TABLES)}"
    # Every objective was evaluated from rollups, not found unknown for want of data.
    with unit_of_work(engine, write=False) as conn:
        backend = service.overview(conn, catalog, clock.now()).systems[0]
    assert backend.status is not HealthStatus.unknown
    assert {r.objective for r in backend.reasons} >= {"errors_24h", "intake_latency_p95"}


def test_statement_count_does_not_grow_with_the_history(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    emit_history(emit, 35)
    router.drain()
    few = overview_statements(engine, catalog, clock.now())
    emit_history(emit, 350)
    router.drain()
    many = overview_statements(engine, catalog, clock.now())

    assert len(many) == len(few)
    # At most: state, three window sums and three evidence lookups per system.
    assert len(many) <= 7 * len(catalog.systems)
    evidence = [sql for sql, _ in many if "health_evidence" in tables_of(sql)]
    assert evidence, "no evidence lookup ran"
    assert all(re.search(r"\bLIMIT\b", sql, re.IGNORECASE) for sql in evidence)


def fill_history(engine: Engine, catalog: Catalog, days: int) -> None:
    """Months of rollups and evidence for every system, as a long-lived store holds.

    Enough rows that a full scan would be a real cost, and that PostgreSQL's planner (after
    ANALYZE) weighs an index against a scan on real statistics.
    """
    start = THURSDAY_10 - timedelta(days=days)
    rows = [
        {"system_id": system.id, "bucket_start": start + timedelta(hours=h), "events": 5,
         "errors": h % 2, "runs_ok": 3, "runs_failed": h % 3 == 0, "lat_le_10": 5}
        for system in catalog.systems
        for h in range(days * 24)
    ]  # fmt: skip
    evidence = [
        {"system_id": system.id, "kind": kind, "event_id": f"old-{system.id}-{kind}-{m}",
         "occurred_at": start + timedelta(minutes=m)}
        for system in catalog.systems
        for kind in ("error", "slow", "run_failed")
        for m in range(0, days * 24 * 60, 30)
    ]  # fmt: skip
    with unit_of_work(engine) as conn:
        conn.execute(insert(system_rollups), rows)
        conn.execute(insert(health_evidence), evidence)


def explain(engine: Engine, statement: str, parameters: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with unit_of_work(engine, write=False) as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    # SQLite: (id, parent, notused, detail); PostgreSQL: one line of text per row.
    return "\n".join(str(row[-1]) for row in rows)


def test_rollup_and_evidence_reads_use_their_indexes(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    fill_history(engine, catalog, days=90)
    emit_history(emit, 70)
    router.drain()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in HEALTH_TABLES:
                auto.execute(text(f"ANALYZE {table}"))

    statements = overview_statements(engine, catalog, clock.now())
    window_sums = [s for s in statements if tables_of(s[0]) == {"system_rollups"}]
    lookups = [s for s in statements if tables_of(s[0]) == {"health_evidence"}]
    with engine.connect() as conn:
        signalled = conn.execute(select(func.count()).select_from(system_state)).scalar_one()
    assert signalled >= 5
    # Each system with any signal sums three windows (errors, latency, runs).
    assert len(window_sums) >= 3 * signalled
    assert lookups

    for sql, params in window_sums + lookups:
        plan = explain(engine, sql, params)
        table = next(iter(tables_of(sql)))
        # The rollups' primary key bounds a window sum to the window's hours; the evidence
        # index (system, kind, time) answers "latest 5 since" without sorting all evidence.
        index = (
            "pk_system_rollups"
            if table == "system_rollups"
            else "ix_health_evidence_system_id_kind_occurred_at"
        )
        if engine.dialect.name == "sqlite":
            # e.g. SEARCH system_rollups USING INDEX sqlite_autoindex_system_rollups_1
            # (system_id=? AND bucket_start>?)
            assert f"SEARCH {table} USING" in plan, plan
            assert "SCAN" not in plan, plan
            assert "TEMP B-TREE" not in plan, plan
            if table == "system_rollups":
                assert "(system_id=? AND bucket_start>?)" in plan, plan
            else:
                assert f"{index} (system_id=? AND kind=? AND occurred_at>?)" in plan, plan
        else:
            assert "Seq Scan" not in plan, plan
            assert re.search(r"Index (Only )?Scan|Bitmap Index Scan", plan), plan
            assert index in plan, plan
