"""The router: outbox rows written with events, leases, exactly-once application, retries, DLQ."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.events import repository, service
from control_tower.kit.clock import FrozenClock
from control_tower.models import correlations, event_routes, system_rollups
from control_tower.routing.router import (
    Router,
    RouterConfig,
    RouteReport,
    _LeaseLost,
    backoff_seconds,
)
from tests.helpers import Emit, new_router


def route_status(engine: Engine, event_id: str) -> tuple[str, str, int]:
    """The routing job's status, the event's ingest status as the API shows it, the attempts."""
    with engine.connect() as conn:
        row = repository.get_event(conn, event_id)
        shown = service.get_event(conn, event_id)
    assert row is not None
    return row.route_status, shown.ingest.status.value, row.route_attempts


def rollup_events(engine: Engine, system_id: str) -> int:
    with engine.connect() as conn:
        total = conn.execute(
            select(func.coalesce(func.sum(system_rollups.c.events), 0)).where(
                system_rollups.c.system_id == system_id
            )
        ).scalar_one()
    return int(total)


def heartbeat(emit: Emit, **kw: object) -> str:
    return emit("system.heartbeat", "backend", {"system_id": "backend"}, **kw)


def test_each_event_gets_an_outbox_row_in_its_transaction(
    engine: Engine, emit: Emit, router: Router
) -> None:
    event_id = heartbeat(emit)
    assert route_status(engine, event_id) == ("pending", "accepted", 0)
    report = router.drain()
    assert report.routed == 1
    assert route_status(engine, event_id) == ("routed", "routed", 0)
    assert rollup_events(engine, "backend") == 1


def test_a_dead_routers_lease_expires_and_another_finishes(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    ids = [heartbeat(emit) for _ in range(5)]
    config = RouterConfig(lease_seconds=30)
    crashed = new_router(engine, catalog, clock, config, name="crashed")
    survivor = new_router(engine, catalog, clock, config, name="survivor")
    assert crashed.claim(clock.now()) == ids  # claims, then "dies" before applying
    assert survivor.route_once().routed == 0  # the lease still holds
    clock.advance(timedelta(seconds=31))
    assert survivor.drain().routed == 5
    assert rollup_events(engine, "backend") == 5
    # The crashed router comes back and tries to apply its stale claim: nothing is applied twice.
    report = crashed.route_once()
    assert report.routed == 0
    assert rollup_events(engine, "backend") == 5


def test_late_router_loses_its_lease_and_applies_nothing(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    heartbeat(emit)
    slow = new_router(engine, catalog, clock, RouterConfig(lease_seconds=10), name="slow")
    fast = new_router(engine, catalog, clock, RouterConfig(lease_seconds=10), name="fast")
    ids = slow.claim(clock.now())
    clock.advance(timedelta(seconds=11))
    assert fast.drain().routed == 1
    with pytest.raises(_LeaseLost):
        slow._apply_batch(ids, clock.now(), RouteReport())
    assert rollup_events(engine, "backend") == 1


def test_parallel_routers_apply_every_event_exactly_once(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    total = 300
    for _ in range(total):
        heartbeat(emit)
    routers = [
        new_router(engine, catalog, clock, RouterConfig(batch_size=20), name=f"r{i}")
        for i in range(3)
    ]
    routed: list[int] = []
    lock = threading.Lock()

    def run(router: Router) -> None:
        report = router.drain()
        with lock:
            routed.append(report.routed)

    threads = [threading.Thread(target=run, args=(r,)) for r in routers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(routed) == total
    assert rollup_events(engine, "backend") == total
    with engine.connect() as conn:
        pending = conn.execute(
            select(func.count()).select_from(event_routes).where(event_routes.c.status != "routed")
        ).scalar_one()
    assert pending == 0


def test_failing_event_retries_with_backoff_then_dies_with_its_error(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    good = heartbeat(emit)
    bad = emit("system.heartbeat", "backend", {"system_id": "no-such-system"})
    report = router.route_once()
    assert report.routed == 1
    assert report.retrying == 1
    assert route_status(engine, good)[0] == "routed"
    assert route_status(engine, bad) == ("retrying", "retrying", 1)
    assert router.route_once().retrying == 0  # not due yet: backoff
    delays = []
    for _ in range(2):
        with engine.connect() as conn:
            available = conn.execute(
                select(event_routes.c.available_at).where(event_routes.c.event_id == bad)
            ).scalar_one()
        delays.append((available - clock.now()).total_seconds())
        clock.set(available)
        router.route_once()
    assert 1 <= delays[0] <= 2
    assert 2 <= delays[1] <= 4
    status, ingest_status, attempts = route_status(engine, bad)
    assert (status, ingest_status, attempts) == ("dead", "dead", 3)
    with engine.connect() as conn:
        error = conn.execute(
            select(event_routes.c.last_error).where(event_routes.c.event_id == bad)
        ).scalar_one()
    assert "no-such-system" in error


def test_a_due_retry_is_claimed_before_a_backlog_of_new_events(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    small = new_router(engine, catalog, clock, RouterConfig(batch_size=5, backoff_base_seconds=2))
    bad = emit("system.heartbeat", "backend", {"system_id": "no-such-system"})
    assert small.route_once().retrying == 1
    backlog = [heartbeat(emit) for _ in range(12)]  # more new events than one batch
    clock.advance(timedelta(seconds=5))  # the retry is due
    claimed = small.claim(clock.now())
    assert claimed[0] == bad  # the oldest due retry first, however many new events wait
    assert claimed[1:] == backlog[:4]  # then the oldest new events, in ingest order


def test_backoff_is_exponential_capped_and_jittered() -> None:
    config = RouterConfig(backoff_base_seconds=2, backoff_max_seconds=60)
    rng = random.Random(7)
    for attempt, full in ((1, 2), (2, 4), (3, 8), (6, 60), (10, 60)):
        delay = backoff_seconds(attempt, config, rng)
        assert full / 2 <= delay <= full


def test_router_marks_routed_and_counts_in_one_transaction(
    engine: Engine, emit: Emit, router: Router
) -> None:
    for _ in range(3):
        heartbeat(emit)
    router.drain()
    with unit_of_work(engine, write=False) as conn:
        shown = service.list_events(conn, repository.EventFilter(), 10, None).items
    assert {event.ingest.status.value for event in shown} == {"routed"}
    assert rollup_events(engine, "backend") == 3


def test_router_keeps_per_correlation_counts_across_batches(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    base = clock.now()
    emit("system.heartbeat", "backend", {"system_id": "backend"}, correlation_id="run-7",
         occurred_at=base - timedelta(minutes=5))  # fmt: skip
    last = emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "low"},
                correlation_id="run-7", occurred_at=base - timedelta(minutes=1))  # fmt: skip
    heartbeat(emit)  # no correlation
    router.drain()
    emit("system.heartbeat", "backend", {"system_id": "backend"}, correlation_id="run-7",
         occurred_at=base - timedelta(minutes=9))  # fmt: skip
    router.drain()
    with engine.connect() as conn:
        rows = list(conn.execute(select(correlations)))
    assert len(rows) == 1
    row = rows[0]
    assert (row.correlation_id, row.events) == ("run-7", 3)
    assert row.first_at == base - timedelta(minutes=9)
    assert (row.last_at, row.last_event_id, row.last_type) == (
        base - timedelta(minutes=1), last, "backend.fn.error",
    )  # fmt: skip


class Crash(BaseException):
    """A router process dying mid-batch (not an Exception: nothing retries or records it)."""


def test_a_batch_in_progress_is_skipped_and_a_crashed_routers_lease_expires(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    """A batch is held by a lease on both stores: skipped while its router works, taken over
    once the lease of a router that died has expired."""
    ids = [heartbeat(emit) for _ in range(5)]
    entered, release = threading.Event(), threading.Event()

    def stalls_then_crashes(_catalog: Catalog, _rows: Sequence[Mapping[Any, Any]]) -> Any:
        entered.set()
        release.wait(30)
        raise Crash()

    config = RouterConfig(lease_seconds=30)
    dying = new_router(engine, catalog, clock, config, handlers=[stalls_then_crashes], name="dying")
    other = new_router(engine, catalog, clock, config, name="other")
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            dying.route_once()
        except Crash as exc:
            crashed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(30)
    assert other.route_once().routed == 0  # held by the dying router: skipped, not waited for
    release.set()
    thread.join(30)
    assert crashed
    assert other.route_once().routed == 0  # the lease outlives its router…
    clock.advance(timedelta(seconds=31))
    assert other.drain().routed == 5  # …until it expires
    assert rollup_events(engine, "backend") == 5
    assert {route_status(engine, event_id)[0] for event_id in ids} == {"routed"}


def test_a_batch_applies_due_retries_first_then_new_events_in_ingest_order(
    engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock
) -> None:
    """What route_once hands the handlers: due retries, then new events in ingest order."""
    seen: list[str] = []

    def records(_catalog: Catalog, rows: Sequence[Mapping[Any, Any]]) -> Any:
        seen.extend(row["event_id"] for row in rows)
        return lambda _conn: None

    small = new_router(engine, catalog, clock, RouterConfig(batch_size=5, backoff_base_seconds=2))
    bad = emit("system.heartbeat", "backend", {"system_id": "no-such-system"})
    assert small.route_once().retrying == 1
    backlog = [heartbeat(emit) for _ in range(12)]
    clock.advance(timedelta(seconds=5))
    recording = new_router(engine, catalog, clock, RouterConfig(batch_size=5), handlers=[records])
    assert recording.route_once().routed == 5
    assert seen == [bad, *backlog[:4]]
