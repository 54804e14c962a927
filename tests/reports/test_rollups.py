"""The rollups reports read: kept by the router once per event, recomputed by `ct rebuild`,
and filled for recent events by migration 0014; a digest reads them through indexes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import service as health
from control_tower.ingest.internal import emit_events
from control_tower.kit.clock import FrozenClock
from control_tower.migrate import alembic_config, upgrade
from control_tower.reports.rollups import REBUILD, TABLES
from control_tower.routing.router import Router
from tests.reports.conftest import london


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with unit_of_work(engine, write=False) as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t))) for t in TABLES}


def sample(n: int, at: datetime) -> list[dict[str, Any]]:
    kinds = [
        ("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"}),
        ("finance.payment.webhook", "finance",
         {"invoice_id": "i", "status_before": "sent", "status_after": "paid"}),
        ("finance.invoice.generated", "finance", {"invoice_id": "i", "period": "p",
         "total": {"amount_minor": 2**40, "currency": "GBP"},
         "vat": {"amount_minor": 1, "currency": "GBP"}}),
        ("ci.workflow.failed", "github", {"repo": "r" * 300, "run_id": "x", "job": "j",
                                          "url": "https://ci"}),
        ("portal.upload.received", "portal", {"contractor_id": "c", "file_ref": "f"}),
    ]  # fmt: skip
    return [
        {"event_id": f"s-{i}", "type": kinds[i % 5][0], "source": kinds[i % 5][1],
         "occurred_at": (at + timedelta(minutes=17 * i)).isoformat(), "payload": kinds[i % 5][2]}
        for i in range(n)
    ]  # fmt: skip


def test_the_router_counts_each_event_once_and_a_rebuild_counts_the_same(
    engine: Engine, catalog: Catalog, clock: FrozenClock, router: Router
) -> None:
    clock.set(london(2026, 11, 27, 8))
    with unit_of_work(engine) as conn:
        emit_events(conn, catalog, sample(40, london(2026, 11, 26, 1)), producer="t",
                    now=clock.now())  # fmt: skip
    router.drain()
    routed = snapshot(engine)
    assert router.drain().routed == 0  # nothing is applied twice
    with unit_of_work(engine) as conn:
        health.rebuild(conn, catalog, parts=[REBUILD])

    assert snapshot(engine) == routed
    assert sum(r[-1] for r in routed["event_counts"]) == 40
    invoices = routed["invoice_totals"]
    assert sum(r[-1] for r in invoices) == 8 * 2**40  # 64-bit sums, exact
    assert {len(r[2]) for r in routed["ci_failures"]} == {200}  # cut to the column's width
    assert len(routed["ci_failures"]) == 8


@pytest.fixture
def at_0013(engine: Engine) -> Iterator[Engine]:
    """The store as it was before migration 0014; upgraded back to head afterwards."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
    try:
        yield engine
    finally:
        upgrade(engine)


def test_migration_0014_counts_the_recently_routed_events(
    at_0013: Engine, catalog: Catalog
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    recent = sample(30, now - timedelta(days=2))
    old = [dict(e, event_id=f"old-{i}") for i, e in enumerate(sample(5, now - timedelta(days=60)))]
    with unit_of_work(at_0013) as conn:
        emit_events(conn, catalog, recent + old, producer="t", now=now)
        conn.execute(text("UPDATE event_routes SET status = 'routed'"))
        conn.execute(text("UPDATE event_routes SET status = 'pending' WHERE event_id = 's-0'"))

    upgrade(at_0013)

    migrated = snapshot(at_0013)
    assert sum(r[-1] for r in migrated["event_counts"]) == 29  # not the old, not the pending
    with unit_of_work(at_0013) as conn:
        conn.execute(text("DELETE FROM event_routes WHERE event_id LIKE 'old-%'"))
        conn.execute(text("UPDATE event_routes SET status = 'pending' WHERE event_id = 's-0'"))
        health.rebuild(conn, catalog, parts=[REBUILD])
    assert snapshot(at_0013) == migrated


def test_a_day_is_read_through_the_rollups_indexes(engine: Engine) -> None:
    """The digest's reads of a day's counters and CI failures search indexes, never scan a
    table. SQLite: its plan, whose planner can pick the wrong one of several. PostgreSQL
    decides by size, so with sequential scans priced out it must find an index to use."""
    day = {"s": "2026-11-26 00:00:00.000000", "e": "2026-11-27 00:00:00.000000", "r": "x"}
    sqlite_index = {
        "SELECT type, source, sum(events) FROM event_counts WHERE bucket_start >= :s "
        "AND bucket_start < :e GROUP BY type, source": "sqlite_autoindex_event_counts_1",
        "SELECT repo, count(*) FROM ci_failures WHERE at >= :s AND at < :e GROUP BY repo": "",
        "SELECT * FROM ci_failures WHERE repo = :r AND at >= :s AND at < :e "
        "ORDER BY at DESC, event_id DESC LIMIT 10": "ix_ci_failures_repo_at",
    }
    with engine.connect() as conn:
        for query, index in sqlite_index.items():
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("EXPLAIN QUERY PLAN " + query), day)
                plan = " ".join(str(r[-1]) for r in rows)
                assert "INDEX" in plan, plan
                assert index in plan, plan
                assert "SCAN ci_failures " not in plan + " ", plan
            else:
                conn.execute(text("SET enable_seqscan = off"))
                bounds = {"s": "2026-11-26T00:00:00Z", "e": "2026-11-27T00:00:00Z", "r": "x"}
                rows = conn.execute(text("EXPLAIN " + query), bounds)
                plan = " ".join(str(r[0]) for r in rows)
                assert "Index" in plan, plan
                assert "Seq Scan" not in plan, plan
