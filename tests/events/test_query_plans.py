"""GET /events is served by its indexes, not by scanning the table, on both stores.

The plans are those of the exact query `repository.list_events` runs (`list_query`). The
observed PostgreSQL plans are recorded in docs/operations.md, "Query plans".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, Select

from control_tower.catalog import load_default_catalog
from control_tower.db import unit_of_work
from control_tower.events.repository import EventFilter, list_query
from control_tower.ingest.internal import emit_events
from control_tower.kit.clock import SystemClock
from control_tower.routing.router import RouterConfig
from tests.helpers import new_router

ROWS = 5000
RARE_TYPE = "artifact.pointer.written"  # 1% of rows, spread evenly through the stream
COMMON_TYPES = [
    ("backend.fn.error", {"fn_name": "f", "severity": "low"}),
    ("backend.parsed", {}),
    ("backend.transform.applied", {}),
]


def five_thousand_events() -> list[dict[str, Any]]:
    raw = []
    for n in range(ROWS):
        etype, payload = (RARE_TYPE, {}) if n % 100 == 0 else COMMON_TYPES[n % 3]
        raw.append(
            {
                "event_id": f"evt-{n}",
                "type": etype,
                "occurred_at": "2026-11-26T09:00:00Z",
                "source": "backend",
                "correlation_id": f"run-{n % 500}",  # 10 events per run
                "payload": payload,
            }
        )
    return raw


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    with unit_of_work(engine) as conn:
        emit_events(
            conn,
            load_default_catalog(),
            five_thousand_events(),
            producer="seed",
            now=datetime.now(UTC),
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return engine


def plan(engine: Engine, flt: EventFilter, before_seq: int | None = None) -> str:
    return explain(engine, list_query(flt, 51, before_seq))


def explain(engine: Engine, query: Select[Any]) -> str:
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + sql).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("before_seq", [None, 2500], ids=["first page", "later page"])
def test_type_filter_uses_the_type_index(loaded: Engine, before_seq: int | None) -> None:
    observed = plan(loaded, EventFilter(type=RARE_TYPE), before_seq)
    assert "ix_events_type_seq" in observed, observed


@pytest.mark.parametrize("before_seq", [None, 2500], ids=["first page", "later page"])
def test_correlation_filter_uses_the_correlation_index(
    loaded: Engine, before_seq: int | None
) -> None:
    observed = plan(loaded, EventFilter(correlation_id="run-7"), before_seq)
    assert "ix_events_correlation_id_seq" in observed, observed


def test_type_index_is_kept_when_a_time_window_is_added(loaded: Engine) -> None:
    since = datetime(2026, 11, 26, tzinfo=UTC)
    observed = plan(loaded, EventFilter(type=RARE_TYPE, since=since))
    # SQLite has a competing index on occurred_at; it must still pick the type index.
    assert "ix_events_type_seq" in observed, observed
    assert "ix_events_occurred_at" not in observed, observed
    assert "TEMP B-TREE" not in observed, observed  # SQLite: no sort, the index gives seq order


def test_unfiltered_listing_walks_the_primary_key_backwards(loaded: Engine) -> None:
    observed = plan(loaded, EventFilter())
    if loaded.dialect.name == "sqlite":
        # rowid order, stopped by LIMIT; each row's routing job (its ingest status) by its key
        assert observed.splitlines() == [
            "SCAN events",
            "SEARCH event_routes USING INDEX sqlite_autoindex_event_routes_1 (event_id=?) "
            "LEFT-JOIN",
        ], observed
    else:
        assert "Index Scan Backward using pk_events" in observed, observed
        assert "Index Scan using pk_event_routes" in observed, observed
    assert "Sort" not in observed


def test_a_routers_batch_is_found_by_its_lease_not_by_scanning_the_outbox(loaded: Engine) -> None:
    router = new_router(loaded, load_default_catalog(), SystemClock(), RouterConfig(batch_size=50))
    ids = router.claim(datetime.now(UTC))
    assert len(ids) == 50
    with loaded.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    observed = explain(loaded, router.leased_events(ids))
    assert "ix_event_routes_lease_owner" in observed, observed


def test_a_claim_reads_due_rows_in_ingest_order_from_the_index_without_sorting(
    loaded: Engine,
) -> None:
    """A claim stops after one batch: no scan and sort of the whole backlog (5,000 pending)."""
    router = new_router(loaded, load_default_catalog(), SystemClock(), RouterConfig(batch_size=50))
    observed = explain(loaded, router.due("pending", datetime.now(UTC), 50))
    assert "ix_event_routes_status_seq" in observed, observed
    assert "Sort" not in observed, observed
    assert "TEMP B-TREE" not in observed, observed
