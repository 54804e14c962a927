"""The scheduler: run each registered job once per slot of its schedule, on one leader.

Why not APScheduler: its job stores keep their own schedule state and it has no leader election,
so two processes on one PostgreSQL would both fire; CT needs both "one leader" and "a slot runs
once even if two leaders overlap", which come down to an advisory lock (`leader.py`) and one
compare-and-set UPDATE (`repository.py`). That is less code than adapting APScheduler to it.

- A job is due when the latest slot of its schedule at or before now is later than the last
  slot it claimed (stored in `scheduled_jobs`), so a restart never re-runs a slot early.
- After an outage a job runs once, for the latest slot; a `catch_up` job runs every slot it
  missed since its last claimed one (at most `max_catch_up`, the latest ones), oldest first, all
  but the latest marked `late`. Each slot is claimed on its own just before it runs, so a
  replica or a restart carries on where the last claim stopped, never running a slot twice.
- A job seen for the first time has no history: it runs its current slot only.
- Tests drive it step by step with `run_due(now)`; `ct serve` runs `start()`/`stop()` in its
  lifespan, ticking every `tick_seconds` and asking the clock what time it is. Jobs claimed in
  one tick run side by side on threads (at most MAX_PARALLEL_JOBS), each bounded by its own
  timeouts, and the tick waits for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio.to_thread
import structlog
from sqlalchemy import Engine

from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock, ensure_utc
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.scheduler import repository
from control_tower.scheduler.leader import Leadership, leadership_for
from control_tower.scheduler.registry import Job, JobRegistry, Slot
from control_tower.scheduler.repository import RunState
from control_tower.scheduler.schedules import Schedule

log = structlog.get_logger(__name__)

_MAX_ERROR_CHARS = 500
MAX_PARALLEL_JOBS = 8
# A month of a daily job: enough to replay a long weekend or a holiday outage, while a job
# with a short interval cannot queue up thousands of runs after a long one.
MAX_CATCH_UP_SLOTS = 31


@dataclass(frozen=True)
class JobRun:
    name: str
    slot: Slot
    status: Literal["ok", "failed"]
    error: str | None = None


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        registry: JobRegistry | None = None,
        tick_seconds: float = 1.0,
        leadership: Leadership | None = None,
        max_catch_up: int = MAX_CATCH_UP_SLOTS,
    ) -> None:
        if max_catch_up < 1:
            raise ValueError("max_catch_up must be at least 1 (the current slot)")
        self._engine = engine
        self._clock = clock
        self._tick = tick_seconds
        self._failures = ThrottledLog(__name__)
        self._leadership = leadership or leadership_for(engine)
        self._registry = registry if registry is not None else JobRegistry()
        self._max_catch_up = max_catch_up
        self._registered: set[str] = set()
        # The latest slot this scheduler tried to claim per job, won or lost: until the next
        # slot begins there is nothing to claim, so a tick writes nothing (on SQLite a claim
        # takes the store's write lock, which ingest needs).
        self._tried: dict[str, datetime] = {}
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, job: Job) -> None:
        self._registry.add(job)

    @property
    def jobs(self) -> list[Job]:
        return list(self._registry)

    def is_leader(self) -> bool:
        return self._leadership.acquire()

    def run_due(self, now: datetime | None = None) -> list[JobRun]:
        """Run every job whose slots since its last claimed one are due; leader only."""
        if not self._leadership.acquire():
            return []
        now = ensure_utc(now or self._clock.now())
        claimed = [
            (job, slots)
            for job in self._registry
            if (slots := self._due_slots(job, now)) and self._claim(job, slots[0], slots, now)
        ]
        if len(claimed) <= 1:
            return [run for job, slots in claimed for run in self._run_claimed(job, slots, now)]
        # Claimed jobs run side by side, so a slow poll does not hold the others back.
        with ThreadPoolExecutor(max_workers=min(len(claimed), MAX_PARALLEL_JOBS)) as pool:
            batches = list(pool.map(lambda c: self._run_claimed(c[0], c[1], now), claimed))
        return [run for runs in batches for run in runs]

    def _due_slots(self, job: Job, now: datetime) -> list[Slot]:
        """The slots to claim for `job`, oldest first; [] when its current one was tried."""
        current = job.schedule.slot_at_or_before(now)
        if self._tried.get(job.name) == current:
            return []
        if not job.catch_up:
            return [Slot(current)]
        with unit_of_work(self._engine, write=False) as conn:
            last = repository.last_slot(conn, job.name)
        if last is None:  # never claimed: no history to catch up
            return [Slot(current)]
        if last >= current:
            self._tried[job.name] = current
            return []
        slots = job.schedule.slots_between(last, current, latest=self._max_catch_up)
        if (first_missed := job.schedule.next_after(last)) < slots[0]:
            log.warning(
                "job_catch_up_capped",
                job=job.name,
                skipped_from=first_missed.isoformat(),
                skipped_until=job.schedule.slot_at_or_before(
                    slots[0] - timedelta(microseconds=1)
                ).isoformat(),
                running_from=slots[0].isoformat(),
                max_catch_up=self._max_catch_up,
            )
        return [Slot(at, late=at != current) for at in slots]

    def _claim(self, job: Job, slot: Slot, plan: list[Slot], now: datetime) -> bool:
        """Claim one slot of `plan`. Lost means another scheduler holds the job's slots: this
        one leaves the rest of the plan to it and waits for the next slot."""
        description = job.schedule.describe()
        with unit_of_work(self._engine) as conn:
            if job.name not in self._registered:
                repository.insert_job(conn, job.name, description)
            won = repository.claim_slot(
                conn, job.name, description, slot.at, late=slot.late, now=now
            )
        self._registered.add(job.name)
        self._tried[job.name] = slot.at if won else plan[-1].at
        return won

    def _run_claimed(self, job: Job, slots: list[Slot], now: datetime) -> list[JobRun]:
        """Run the first (claimed) slot, then claim and run each later one in turn."""
        runs = [self._run(job, slots[0])]
        for slot in slots[1:]:
            if not self._claim(job, slot, slots, now):
                break
            runs.append(self._run(job, slot))
        return runs

    def _run(self, job: Job, slot: Slot) -> JobRun:
        log.info("job_started", job=job.name, slot=slot.at.isoformat(), late=slot.late)
        status: Literal["ok", "failed"] = "ok"
        error: str | None = None
        try:
            job.run(slot)
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            log.error(
                "job_failed", job=job.name, slot=slot.at.isoformat(), error=error, exc_info=exc
            )
        with unit_of_work(self._engine) as conn:
            repository.record_finish(
                conn, job.name, slot.at, status=status, error=error, now=self._clock.now()
            )
        return JobRun(job.name, slot, status, error)

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
                self._failures.error(
                    "scheduler_tick_failed", type(exc).__name__, error=str(exc), exc_info=exc
                )

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


@dataclass(frozen=True)
class JobStatus:
    """A job as `ct jobs list` shows it: its schedule, its last slot and the next one."""

    name: str
    schedule: Schedule
    catch_up: bool
    last_slot_at: datetime | None
    next_slot_at: datetime
    due: bool  # its current slot has not been claimed: it runs at the leader's next tick
    current_slot_at: datetime  # the latest slot at or before now: the one `due` speaks of
    last_late: bool | None
    last_status: RunState | None
    last_error: str | None
    runs: int

    def as_dict(self) -> dict[str, Any]:
        def both(instant: datetime | None) -> dict[str, str] | None:
            if instant is None:
                return None
            return {
                "utc": instant.astimezone(UTC).isoformat(),
                "local": instant.astimezone(self.schedule.tz).isoformat(),
            }

        return {
            "name": self.name,
            "schedule": self.schedule.describe(),
            "zone": self.schedule.tz.key,
            "catch_up": self.catch_up,
            "last_slot": both(self.last_slot_at),
            "next_slot": both(self.next_slot_at),
            "due": self.due,
            "current_slot": both(self.current_slot_at),
            "last_late": self.last_late,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "runs": self.runs,
        }


def list_jobs(engine: Engine, jobs: Iterable[Job], now: datetime) -> list[JobStatus]:
    """Each job with the state its row holds (none yet for a job that never ran)."""
    with unit_of_work(engine, write=False) as conn:
        rows = repository.all_jobs(conn)
    statuses = []
    for job in jobs:
        row = rows.get(job.name)
        last = row.last_slot_at if row else None
        current = job.schedule.slot_at_or_before(now)
        statuses.append(
            JobStatus(
                name=job.name,
                schedule=job.schedule,
                catch_up=job.catch_up,
                last_slot_at=last,
                next_slot_at=job.schedule.next_after(now),
                due=last is None or last < current,
                current_slot_at=current,
                last_late=row.last_late if row else None,
                last_status=row.last_status if row else None,
                last_error=row.last_error if row else None,
                runs=row.runs if row else 0,
            )
        )
    return statuses
