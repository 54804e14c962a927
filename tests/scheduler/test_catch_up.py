"""Catch-up on the store (SQLite file and PostgreSQL): missed calendar slots run oldest first,
once, across two schedulers and across a restart. Driven with a FrozenClock set to fixed dates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from control_tower.db import build_engine
from control_tower.kit.clock import FrozenClock
from control_tower.models import scheduled_jobs
from control_tower.scheduler import (
    DailyAt,
    Every,
    Job,
    Scheduler,
    SingleProcessLeadership,
    Slot,
)

DAILY_0800_LONDON = DailyAt(time(8, 0), "Europe/London")


class Recorder:
    """A job body that remembers each slot it ran for; `die_at` makes the process stop there."""

    def __init__(self, die_at: datetime | None = None) -> None:
        self.slots: list[Slot] = []
        self.die_at = die_at
        self._lock = threading.Lock()

    def __call__(self, slot: Slot) -> None:
        with self._lock:
            self.slots.append(slot)
        if slot.at == self.die_at:
            raise ProcessDied

    @property
    def instants(self) -> list[datetime]:
        return [slot.at for slot in self.slots]


class ProcessDied(BaseException):
    """Not an Exception: like a killed process, the scheduler does not get to record it."""


_open: list[Scheduler] = []


@pytest.fixture(autouse=True)
def _release_leaders() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def scheduler(engine: Engine, clock: FrozenClock, job: Job, **kw: object) -> Scheduler:
    made = Scheduler(engine, clock, leadership=SingleProcessLeadership(), **kw)  # type: ignore[arg-type]
    made.register(job)
    _open.append(made)
    return made


def digest(body: Recorder, schedule: DailyAt | Every = DAILY_0800_LONDON) -> Job:
    return Job("digest", schedule, body, catch_up=True)


def row(engine: Engine) -> tuple[datetime, bool, str, int, str]:
    with engine.connect() as conn:
        found = conn.execute(select(scheduled_jobs)).one()
    return found.last_slot_at, found.last_late, found.last_status, found.runs, found.schedule


# Three daily slots missed while CT was down: in December, and across the spring change (08:00
# BST on 29 March is 07:00 UTC).
WINDOWS = {
    "winter": [datetime(2026, 12, d, 8, tzinfo=UTC) for d in (1, 2, 3, 4)],
    "across-spring-change": [
        datetime(2026, 3, 28, 8, tzinfo=UTC),
        datetime(2026, 3, 29, 7, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
        datetime(2026, 3, 31, 7, tzinfo=UTC),
    ],
}


@pytest.mark.parametrize("window", list(WINDOWS), ids=list(WINDOWS))
def test_missed_daily_slots_run_oldest_first_all_but_the_latest_late(
    engine: Engine, clock: FrozenClock, window: str
) -> None:
    first, *missed = WINDOWS[window]
    body = Recorder()
    clock.set(first + timedelta(hours=1))
    runner = scheduler(engine, clock, digest(body))
    # Seen for the first time: no history, only the current slot runs.
    [run] = runner.run_due()
    assert (run.slot, run.status) == (Slot(first, late=False), "ok")
    assert runner.run_due() == []

    clock.set(missed[-1] + timedelta(hours=1))  # three days later
    runs = runner.run_due()
    assert [r.slot for r in runs] == [Slot(missed[0], True), Slot(missed[1], True), Slot(missed[2])]
    assert [r.status for r in runs] == ["ok"] * 3
    assert body.instants == [first, *missed]
    assert row(engine) == (missed[-1], False, "ok", 4, "daily at 08:00 Europe/London")
    assert runner.run_due() == []


def test_catch_up_runs_each_slot_once_across_two_replicas(
    engine: Engine, database_url: str, clock: FrozenClock
) -> None:
    """Two schedulers that both believe they lead, on separate engines, tick at once."""
    first, *missed = WINDOWS["winter"]
    body = Recorder()
    clock.set(first + timedelta(hours=1))
    scheduler(engine, clock, digest(body)).run_due()
    clock.set(missed[-1] + timedelta(hours=1))
    other_engine = build_engine(database_url)
    try:
        replicas = [
            scheduler(engine, clock, digest(body)),
            scheduler(other_engine, clock, digest(body)),
        ]
        barrier = threading.Barrier(2)
        counts: list[int] = []

        def tick(replica: Scheduler) -> None:
            barrier.wait()
            counts.append(len(replica.run_due()))

        threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(counts) == 3
        # Each missed slot once; a replica that loses a claim leaves the rest to the other.
        assert sorted(body.instants[1:]) == missed
        assert len(body.instants) == 4
        assert [r.run_due() for r in replicas] == [[], []]
    finally:
        other_engine.dispose()


def test_catch_up_carries_on_after_a_restart_without_running_a_slot_twice(
    engine: Engine, clock: FrozenClock
) -> None:
    first, *missed = WINDOWS["winter"]
    clock.set(first + timedelta(hours=1))
    scheduler(engine, clock, digest(Recorder())).run_due()

    clock.set(missed[-1] + timedelta(hours=1))
    dying = Recorder(die_at=missed[1])  # the process stops while running the second slot
    with pytest.raises(ProcessDied):
        scheduler(engine, clock, digest(dying)).run_due()
    assert dying.instants == missed[:2]
    _open.pop().close()

    restarted = Recorder()  # a new process: nothing in memory
    runs = scheduler(engine, clock, digest(restarted)).run_due()
    # The slot that was running when the process died was claimed: it is not run again.
    assert [r.slot for r in runs] == [Slot(missed[2])]
    assert row(engine)[:4] == (missed[2], False, "ok", 4)

    again = Recorder()  # and one more restart the same day: nothing is due
    assert scheduler(engine, clock, digest(again)).run_due() == []
    clock.set(missed[-1] + timedelta(days=1))
    assert [r.slot for r in scheduler(engine, clock, digest(again)).run_due()] == [
        Slot(missed[-1] + timedelta(days=1))
    ]


def test_without_catch_up_missed_calendar_slots_run_once(
    engine: Engine, clock: FrozenClock
) -> None:
    first, *missed = WINDOWS["winter"]
    body = Recorder()
    clock.set(first + timedelta(hours=1))
    runner = scheduler(engine, clock, Job("digest", DAILY_0800_LONDON, body))
    runner.run_due()
    clock.set(missed[-1] + timedelta(hours=1))
    runner.run_due()
    assert body.slots == [Slot(first), Slot(missed[-1])]


def test_a_failed_slot_does_not_stop_the_catch_up(engine: Engine, clock: FrozenClock) -> None:
    first, *missed = WINDOWS["winter"]
    ran: list[datetime] = []

    def fails_once(slot: Slot) -> None:
        ran.append(slot.at)
        if slot.at == missed[0]:
            raise RuntimeError("the mail server was down")

    clock.set(first + timedelta(hours=1))
    runner = scheduler(engine, clock, Job("digest", DAILY_0800_LONDON, fails_once, catch_up=True))
    runner.run_due()
    clock.set(missed[-1] + timedelta(hours=1))
    runs = runner.run_due()
    assert [(r.slot.at, r.status) for r in runs] == [
        (missed[0], "failed"),
        (missed[1], "ok"),
        (missed[2], "ok"),
    ]
    assert runs[0].error == "RuntimeError: the mail server was down"
    assert ran == [first, *missed]


def test_catch_up_is_capped_and_says_what_it_skipped(engine: Engine, clock: FrozenClock) -> None:
    t0 = clock.now().replace(minute=0, second=0, microsecond=0)
    body = Recorder()
    clock.set(t0)
    runner = scheduler(engine, clock, digest(body, Every(60)), max_catch_up=5)
    runner.run_due()
    clock.set(t0 + timedelta(minutes=10))  # ten slots missed, five kept
    with capture_logs() as logs:
        runs = runner.run_due()
    kept = [t0 + timedelta(minutes=m) for m in range(6, 11)]
    assert [r.slot.at for r in runs] == kept
    assert [r.slot.late for r in runs] == [True] * 4 + [False]
    [capped] = [entry for entry in logs if entry["event"] == "job_catch_up_capped"]
    assert capped["skipped_from"] == (t0 + timedelta(minutes=1)).isoformat()
    assert capped["skipped_until"] == (t0 + timedelta(minutes=5)).isoformat()
    assert capped["running_from"] == kept[0].isoformat()
