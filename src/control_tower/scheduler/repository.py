"""The scheduler's SQL: one row per job in `scheduled_jobs`, and the compare-and-set on its
`last_slot_at` that makes a slot run once however many schedulers see it due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import Connection, or_, select, update

from control_tower.db import conflict_insert
from control_tower.models import scheduled_jobs

RunState = Literal["running", "ok", "failed"]


@dataclass(frozen=True)
class JobRow:
    name: str
    schedule: str
    last_slot_at: datetime | None
    last_late: bool | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: RunState | None
    last_error: str | None
    runs: int


def insert_job(conn: Connection, name: str, schedule: str) -> None:
    """The job's row, if it has none yet (a job seen for the first time)."""
    conn.execute(
        conflict_insert(conn, scheduled_jobs)
        .values(name=name, schedule=schedule, runs=0)
        .on_conflict_do_nothing(index_elements=[scheduled_jobs.c.name])
    )


def last_slot(conn: Connection, name: str) -> datetime | None:
    value: datetime | None = conn.execute(
        select(scheduled_jobs.c.last_slot_at).where(scheduled_jobs.c.name == name)
    ).scalar_one_or_none()
    return value


def claim_slot(
    conn: Connection, name: str, schedule: str, slot: datetime, *, late: bool, now: datetime
) -> bool:
    """Move the job's last slot forward to `slot`; False when it already is there or beyond
    (another scheduler claimed it, or this one did before a restart)."""
    claimed = conn.execute(
        update(scheduled_jobs)
        .where(
            scheduled_jobs.c.name == name,
            or_(scheduled_jobs.c.last_slot_at.is_(None), scheduled_jobs.c.last_slot_at < slot),
        )
        .values(
            schedule=schedule,
            last_slot_at=slot,
            last_late=late,
            last_started_at=now,
            last_status="running",
            last_error=None,
            runs=scheduled_jobs.c.runs + 1,
        )
    )
    return claimed.rowcount == 1


def record_finish(
    conn: Connection,
    name: str,
    slot: datetime,
    *,
    status: RunState,
    error: str | None,
    now: datetime,
) -> None:
    """The outcome of the run for `slot`, unless a later slot was claimed meanwhile."""
    conn.execute(
        update(scheduled_jobs)
        .where(scheduled_jobs.c.name == name, scheduled_jobs.c.last_slot_at == slot)
        .values(last_finished_at=now, last_status=status, last_error=error)
    )


def all_jobs(conn: Connection) -> dict[str, JobRow]:
    rows = conn.execute(select(scheduled_jobs)).all()
    return {
        row.name: JobRow(
            name=row.name,
            schedule=row.schedule,
            last_slot_at=row.last_slot_at,
            last_late=row.last_late,
            last_started_at=row.last_started_at,
            last_finished_at=row.last_finished_at,
            last_status=cast(RunState | None, row.last_status),
            last_error=row.last_error,
            runs=row.runs,
        )
        for row in rows
    }
