"""The scheduler: slots, restarts, missed slots, overlapping leaders, PostgreSQL leadership,
and the lifespan loop — driven step by step with a FrozenClock."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from control_tower.app import create_app
from control_tower.db import build_engine
from control_tower.kit.clock import FrozenClock
from control_tower.models import scheduled_jobs
from control_tower.scheduler import (
    Every,
    Job,
    JobRegistry,
    PostgresLeadership,
    Scheduler,
    SingleProcessLeadership,
    Slot,
    slot_for,
)
from control_tower.settings import Settings
from tests.pollers.fakes import (
    HealthState,
    catalog_data,
    health_server,
    http_poller,
    stored_events,
)


@pytest.fixture(autouse=True)
def on_the_hour(clock: FrozenClock) -> None:
    """Slots are aligned to their interval: start these tests on a slot boundary, today's."""
    clock.set(clock.now().replace(minute=0, second=0, microsecond=0))


class Counter:
    """A job body that remembers each slot it ran for."""

    def __init__(self) -> None:
        self.slots: list[datetime] = []
        self._lock = threading.Lock()

    def __call__(self, slot: Slot) -> None:
        with self._lock:
            self.slots.append(slot.at)


_open: list[Scheduler] = []


@pytest.fixture
def opened(engine: Engine) -> Iterator[Engine]:
    """The engine; schedulers made on it give back their leader connection before it closes."""
    yield engine
    while _open:
        _open.pop().close()


def scheduler_with(
    engine: Engine, clock: FrozenClock, counter: Counter, interval: int = 60, **kw: object
) -> Scheduler:
    scheduler = Scheduler(engine, clock, **kw)  # type: ignore[arg-type]
    scheduler.register(Job("count", Every(interval), counter))
    _open.append(scheduler)
    return scheduler


def test_slots_are_aligned_to_the_interval(clock: FrozenClock) -> None:
    now = clock.now() + timedelta(seconds=95)  # hh:01:35
    assert slot_for(now, 60) == clock.now() + timedelta(seconds=60)
    assert slot_for(now, 300) == clock.now()


@pytest.mark.usefixtures("opened")
def test_a_due_job_runs_once_per_slot(engine: Engine, clock: FrozenClock) -> None:
    counter = Counter()
    scheduler = scheduler_with(engine, clock, counter)
    t0 = clock.now()
    assert [r.status for r in scheduler.run_due(t0)] == ["ok"]
    assert scheduler.run_due(t0 + timedelta(seconds=30)) == []
    assert len(scheduler.run_due(t0 + timedelta(seconds=60))) == 1
    assert counter.slots == [t0, t0 + timedelta(seconds=60)]
    with engine.connect() as conn:
        row = conn.execute(select(scheduled_jobs)).one()
    assert row.name == "count"
    assert row.schedule == "every 60 s"
    assert row.runs == 2
    assert row.last_status == "ok"
    assert row.last_slot_at == t0 + timedelta(seconds=60)
    assert row.last_late is False


@pytest.mark.usefixtures("opened")
def test_a_restart_does_not_rerun_a_job_early(engine: Engine, clock: FrozenClock) -> None:
    counter = Counter()
    t0 = clock.now()
    before = scheduler_with(engine, clock, counter)
    before.run_due(t0)
    before.close()  # the process stops
    restarted = scheduler_with(engine, clock, counter)  # a new process: nothing in memory
    assert restarted.run_due(t0 + timedelta(seconds=59)) == []
    assert len(restarted.run_due(t0 + timedelta(seconds=60))) == 1
    assert counter.slots == [t0, t0 + timedelta(seconds=60)]


@pytest.mark.usefixtures("opened")
def test_missed_slots_run_once_not_once_each(engine: Engine, clock: FrozenClock) -> None:
    counter = Counter()
    scheduler = scheduler_with(engine, clock, counter)
    t0 = clock.now()
    scheduler.run_due(t0)
    later = t0 + timedelta(minutes=10, seconds=5)  # ten slots missed while CT was down
    assert len(scheduler.run_due(later)) == 1
    assert scheduler.run_due(later) == []
    scheduler.close()
    assert scheduler_with(engine, clock, counter).run_due(later) == []
    assert counter.slots == [t0, t0 + timedelta(minutes=10)]


@pytest.mark.usefixtures("opened")
def test_two_leaders_at_once_run_a_slot_once(
    engine: Engine, database_url: str, clock: FrozenClock
) -> None:
    """Two schedulers that both believe they lead (a failover moment) on separate engines."""
    counter = Counter()
    other_engine = build_engine(database_url)
    try:
        schedulers = [
            scheduler_with(engine, clock, counter, leadership=SingleProcessLeadership()),
            scheduler_with(other_engine, clock, counter, leadership=SingleProcessLeadership()),
        ]
        barrier = threading.Barrier(2)
        results: list[int] = []

        def run(s: Scheduler) -> None:
            barrier.wait()
            results.append(len(s.run_due(clock.now())))

        threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [0, 1]
        assert counter.slots == [clock.now()]
    finally:
        other_engine.dispose()


@pytest.mark.usefixtures("opened")
def test_a_failing_job_is_recorded_and_runs_again_next_slot(
    engine: Engine, clock: FrozenClock
) -> None:
    calls: list[datetime] = []

    def flaky(slot: Slot) -> None:
        calls.append(slot.at)
        if len(calls) == 1:
            raise RuntimeError("the target was down")

    scheduler = Scheduler(engine, clock)
    _open.append(scheduler)
    scheduler.register(Job("flaky", Every(60), flaky))
    [run] = scheduler.run_due()
    assert run.status == "failed"
    assert run.error == "RuntimeError: the target was down"
    with engine.connect() as conn:
        row = conn.execute(select(scheduled_jobs)).one()
    assert (row.last_status, row.last_error) == ("failed", "RuntimeError: the target was down")
    assert scheduler.run_due() == []  # a failed slot is not retried in a loop
    clock.advance(timedelta(minutes=1))
    assert [r.status for r in scheduler.run_due()] == ["ok"]


@pytest.mark.usefixtures("opened")
def test_jobs_have_their_own_intervals(engine: Engine, clock: FrozenClock) -> None:
    fast, slow = Counter(), Counter()
    scheduler = Scheduler(engine, clock)
    _open.append(scheduler)
    scheduler.register(Job("fast", Every(60), fast))
    scheduler.register(Job("slow", Every(300), slow))
    for minute in range(10):
        scheduler.run_due(clock.now() + timedelta(minutes=minute))
    assert len(fast.slots) == 10
    assert len(slow.slots) == 2


@pytest.mark.usefixtures("opened")
def test_jobs_come_from_a_registry_with_unique_names(engine: Engine, clock: FrozenClock) -> None:
    """Features add their jobs to one registry, which the app gives the scheduler."""
    counter = Counter()
    registry = JobRegistry([Job("count", Every(60), counter)])
    with pytest.raises(ValueError, match="job 'count' is already registered"):
        registry.add(Job("count", Every(300), counter))
    scheduler = Scheduler(engine, clock, registry=registry)
    _open.append(scheduler)
    with pytest.raises(ValueError, match="already registered"):
        scheduler.register(Job("count", Every(60), counter))
    [run] = scheduler.run_due()
    assert (run.name, run.slot, run.status) == ("count", Slot(clock.now()), "ok")
    assert [job.name for job in scheduler.jobs] == ["count"]


@pytest.mark.usefixtures("opened")
def test_jobs_due_together_run_side_by_side(engine: Engine, clock: FrozenClock) -> None:
    """A slow job does not hold back the others: `slow` can only finish once `quick` ran."""
    quick_ran = threading.Event()

    def slow(_slot: Slot) -> None:
        if not quick_ran.wait(timeout=10):
            raise RuntimeError("quick never ran while slow was running")

    scheduler = Scheduler(engine, clock)
    _open.append(scheduler)
    scheduler.register(Job("slow", Every(60), slow))
    scheduler.register(Job("quick", Every(60), lambda _slot: quick_ran.set()))
    runs = scheduler.run_due()
    assert [(r.name, r.status) for r in runs] == [("slow", "ok"), ("quick", "ok")]


@pytest.mark.usefixtures("opened")
@pytest.mark.parametrize(
    "change",
    [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # London: 01:00 GMT becomes 02:00 BST
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # London: 02:00 BST becomes 01:00 GMT
    ],
    ids=["spring-forward", "fall-back"],
)
def test_slots_follow_real_elapsed_time_across_dst(engine: Engine, change: datetime) -> None:
    clock = FrozenClock(change - timedelta(hours=2))
    counter = Counter()
    scheduler = scheduler_with(engine, clock, counter, interval=3600)
    for quarter in range(4 * 4 + 1):  # four hours in 15-minute ticks
        scheduler.run_due(clock.now() + timedelta(minutes=15 * quarter))
    assert len(counter.slots) == 5
    gaps = {b - a for a, b in itertools.pairwise(counter.slots)}
    assert gaps == {timedelta(hours=1)}  # one run per real hour, whatever the wall clock says
    london = [s.astimezone(ZoneInfo("Europe/London")).hour for s in counter.slots]
    assert len(set(london)) == (4 if change.month == 10 else 5)  # 01:00 twice in October


# --- PostgreSQL leadership (these use the PostgreSQL test database directly) ------------------


def test_only_one_postgres_scheduler_leads(pg_database: str, clock: FrozenClock) -> None:
    first_engine, second_engine = build_engine(pg_database), build_engine(pg_database)
    counter = Counter()
    name = f"count-{uuid.uuid4().hex[:8]}"
    first, second = Scheduler(first_engine, clock), Scheduler(second_engine, clock)
    for scheduler in (first, second):
        scheduler.register(Job(name, Every(60), counter))
    try:
        assert isinstance(first._leadership, PostgresLeadership)
        t0 = clock.now()
        assert len(first.run_due(t0)) == 1
        assert second.is_leader() is False
        assert second.run_due(t0 + timedelta(minutes=1)) == []  # due, but not the leader
        assert len(first.run_due(t0 + timedelta(minutes=1))) == 1
        first.close()  # the leader stops: the next process to tick takes over
        assert len(second.run_due(t0 + timedelta(minutes=2))) == 1
        assert first.is_leader() is False
        assert counter.slots == [t0 + timedelta(minutes=m) for m in range(3)]
    finally:
        first.close()
        second.close()
        first_engine.dispose()
        second_engine.dispose()


def test_leadership_moves_when_the_leaders_session_dies(
    pg_database: str, clock: FrozenClock
) -> None:
    engine_a, engine_b = build_engine(pg_database), build_engine(pg_database)
    a, b = Scheduler(engine_a, clock), Scheduler(engine_b, clock)
    try:
        assert a.is_leader() is True
        assert b.is_leader() is False
        leadership = a._leadership
        assert isinstance(leadership, PostgresLeadership)
        assert leadership._conn is not None
        pid = leadership._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine_b.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
            # Termination is asynchronous: wait for the session (and its lock) to be gone.
            alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            deadline = time.monotonic() + 10
            while conn.execute(alive, {"pid": pid}).scalar_one() and time.monotonic() < deadline:
                conn.commit()
                time.sleep(0.01)
        assert b.is_leader() is True  # the advisory lock died with the session
        assert a.is_leader() is False  # a notices its connection is gone and does not lead
    finally:
        a.close()
        b.close()
        engine_a.dispose()
        engine_b.dispose()


# --- the lifespan loop -------------------------------------------------------------------------


def test_serve_lifespan_runs_pollers_on_the_scheduler(
    settings: Settings, engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    state = HealthState()
    with health_server(state) as url:
        path = tmp_path / "catalog.yaml"
        path.write_text(yaml.safe_dump(catalog_data([http_poller(f"{url}/healthz")])))
        app_settings = settings.model_copy(
            update={"catalog": path, "scheduler_enabled": True, "scheduler_tick_seconds": 0.02}
        )
        app = create_app(app_settings, clock=clock)
        with TestClient(app):
            assert app.state.scheduler is not None
            deadline = time.monotonic() + 20
            while not stored_events(engine) and time.monotonic() < deadline:
                time.sleep(0.02)
        [beat] = stored_events(engine)
    slot = slot_for(clock.now(), 60)
    assert beat.event_id == f"poll:backend-health:{int(slot.timestamp())}"
    assert beat.type == "system.heartbeat"
    assert state.hits == 1  # the clock stood still: one slot, polled once however many ticks


def test_no_scheduler_when_disabled(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app):
        assert app.state.scheduler is None
