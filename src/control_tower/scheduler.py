"""A small scheduler on the store: interval jobs, run by one leader, each slot at most once.

Why not APScheduler: its job stores keep their own schedule state and it has no leader election,
so two processes on one PostgreSQL would both fire; CT needs both "one leader" and "a slot runs
once even if two leaders overlap", which come down to an advisory lock and one compare-and-set
UPDATE. That is less code than adapting APScheduler to it.

- Time is cut into slots per job: the slot of `now` is `now` rounded down to a multiple of the
  job's interval since the Unix epoch. A job is due when its current slot is later than the
  last slot it claimed (stored in `scheduled_jobs`), so a restart never re-runs a slot early
  and a long outage runs the job once for the latest slot, not once per missed slot.
- Claiming a slot is one conditional UPDATE (`last_slot_at < :slot`): two schedulers that both
  believe they lead still run a slot once. Jobs also key their effects (event ids per slot).
- Leadership: on PostgreSQL the process holding the session-level advisory lock
  `pg_try_advisory_lock(LEADER_LOCK_KEY)` leads, on a connection it keeps; if that connection
  dies the lock goes with it and another process takes over on its next tick. On SQLite there
  is one process, which leads.
- Tests drive it step by step with `run_due(now)`; `ct serve` runs `start()`/`stop()` in its
  lifespan, ticking every `tick_seconds` and asking the clock what time it is. Jobs claimed in
  one tick run side by side on threads (at most MAX_PARALLEL_JOBS), each bounded by its own
  timeouts, and the tick waits for all of them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import anyio.to_thread
import structlog
from sqlalchemy import Connection, Engine, or_, text, update
from sqlalchemy.exc import DBAPIError

from control_tower.db import conflict_insert, unit_of_work
from control_tower.kit.clock import Clock, ensure_utc
from control_tower.models import scheduled_jobs

log = structlog.get_logger(__name__)

# A fixed 64-bit key for the leader's advisory lock, derived from a name so it is recognisable.
LEADER_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"control_tower.scheduler.leader").digest()[:8], "big", signed=True
)
_MAX_ERROR_CHARS = 500
MAX_PARALLEL_JOBS = 8


@dataclass(frozen=True)
class Job:
    """A job a feature registers: `run(slot)` is called once per due slot."""

    name: str
    interval_seconds: int
    run: Callable[[datetime], object]


@dataclass(frozen=True)
class JobRun:
    name: str
    slot: datetime
    status: str  # ok | failed
    error: str | None = None


def slot_for(now: datetime, interval_seconds: int) -> datetime:
    """`now` rounded down to a multiple of the interval since the Unix epoch."""
    seconds = int(ensure_utc(now).timestamp()) // interval_seconds * interval_seconds
    return datetime.fromtimestamp(seconds, UTC)


class Leadership(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class SingleProcessLeadership:
    """SQLite: one process serves the store, and it leads."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class PostgresLeadership:
    """The holder of a session-level advisory lock leads, for as long as its connection lives."""

    def __init__(self, engine: Engine, key: int = LEADER_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                log.warning("scheduler_leadership_lost")
                self._discard()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            )
        except DBAPIError:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("scheduler_leadership_acquired")
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except DBAPIError:
            pass
        self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None


def leadership_for(engine: Engine) -> Leadership:
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    return SingleProcessLeadership()


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        tick_seconds: float = 1.0,
        leadership: Leadership | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._tick = tick_seconds
        self._leadership = leadership or leadership_for(engine)
        self._jobs: dict[str, Job] = {}
        self._registered: set[str] = set()
        # The latest slot this scheduler tried to claim per job, won or lost: until the next
        # slot begins there is nothing to claim, so a tick writes nothing (on SQLite a claim
        # takes the store's write lock, which ingest needs).
        self._tried: dict[str, datetime] = {}
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, job: Job) -> None:
        if job.interval_seconds < 1:
            raise ValueError(f"job {job.name!r} needs an interval of at least 1 second")
        if job.name in self._jobs:
            raise ValueError(f"job {job.name!r} is already registered")
        self._jobs[job.name] = job

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def is_leader(self) -> bool:
        return self._leadership.acquire()

    def run_due(self, now: datetime | None = None) -> list[JobRun]:
        """Run every job whose current slot has not been claimed yet; leader only."""
        if not self._leadership.acquire():
            return []
        now = ensure_utc(now or self._clock.now())
        claimed = [
            (job, slot)
            for job in self._jobs.values()
            if self._tried.get(job.name) != (slot := slot_for(now, job.interval_seconds))
            and self._claim(job, slot, now)
        ]
        if len(claimed) <= 1:
            return [self._run(job, slot) for job, slot in claimed]
        # Claimed jobs run side by side, so a slow poll does not hold the others back.
        with ThreadPoolExecutor(max_workers=min(len(claimed), MAX_PARALLEL_JOBS)) as pool:
            return list(pool.map(lambda claim: self._run(*claim), claimed))

    def _claim(self, job: Job, slot: datetime, now: datetime) -> bool:
        with unit_of_work(self._engine) as conn:
            if job.name not in self._registered:
                _insert_job_row(conn, job)
            claimed = conn.execute(
                update(scheduled_jobs)
                .where(
                    scheduled_jobs.c.name == job.name,
                    or_(
                        scheduled_jobs.c.last_slot_at.is_(None),
                        scheduled_jobs.c.last_slot_at < slot,
                    ),
                )
                .values(
                    interval_seconds=job.interval_seconds,
                    last_slot_at=slot,
                    last_started_at=now,
                    last_status="running",
                    last_error=None,
                    runs=scheduled_jobs.c.runs + 1,
                )
            )
        self._registered.add(job.name)
        self._tried[job.name] = slot
        return claimed.rowcount == 1

    def _run(self, job: Job, slot: datetime) -> JobRun:
        log.info("job_started", job=job.name, slot=slot.isoformat())
        try:
            job.run(slot)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            log.error("job_failed", job=job.name, slot=slot.isoformat(), error=error)
            result = JobRun(job.name, slot, "failed", error)
        else:
            result = JobRun(job.name, slot, "ok")
        with unit_of_work(self._engine) as conn:
            conn.execute(
                update(scheduled_jobs)
                .where(scheduled_jobs.c.name == job.name, scheduled_jobs.c.last_slot_at == slot)
                .values(
                    last_finished_at=self._clock.now(),
                    last_status=result.status,
                    last_error=result.error,
                )
            )
        return result

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="ct-scheduler")

    async def stop(self) -> None:
        if self._stopping is None or self._task is None:
            return
        self._stopping.set()
        await self._task
        self._task = None
        self._stopping = None
        await anyio.to_thread.run_sync(self._leadership.release)

    async def _loop(self) -> None:
        assert self._stopping is not None
        # Wait a tick before the first run: the lifespan starts us before the server listens,
        # and a check of CT's own /healthz should not fail for that.
        while not await self._stopped_within(self._tick):
            try:
                await anyio.to_thread.run_sync(self.run_due)
            except Exception as exc:  # the store may be briefly away; try again next tick
                log.error("scheduler_tick_failed", error=f"{type(exc).__name__}: {exc}")

    async def _stopped_within(self, seconds: float) -> bool:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Give up leadership (synchronous callers: CLI and tests)."""
        self._leadership.release()


def _insert_job_row(conn: Connection, job: Job) -> None:
    conn.execute(
        conflict_insert(conn, scheduled_jobs)
        .values(name=job.name, interval_seconds=job.interval_seconds, runs=0)
        .on_conflict_do_nothing(index_elements=[scheduled_jobs.c.name])
    )
