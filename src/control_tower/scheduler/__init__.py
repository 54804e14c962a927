"""A small scheduler on the store: jobs on interval or calendar schedules, run by one leader,
each slot at most once. Features build `Job`s in their `tasks.py`; the app adds them to a
`JobRegistry` and hands it to the `Scheduler`."""

from control_tower.scheduler.leader import (
    LEADER_LOCK_KEY,
    Leadership,
    PostgresLeadership,
    SingleProcessLeadership,
    leadership_for,
)
from control_tower.scheduler.registry import Job, JobRegistry, Slot
from control_tower.scheduler.schedules import (
    DailyAt,
    Every,
    Schedule,
    WeeklyAt,
    parse_schedule,
    slot_for,
)
from control_tower.scheduler.service import JobRun, JobStatus, Scheduler, list_jobs

__all__ = [
    "LEADER_LOCK_KEY",
    "DailyAt",
    "Every",
    "Job",
    "JobRegistry",
    "JobRun",
    "JobStatus",
    "Leadership",
    "PostgresLeadership",
    "Schedule",
    "Scheduler",
    "SingleProcessLeadership",
    "Slot",
    "WeeklyAt",
    "leadership_for",
    "list_jobs",
    "parse_schedule",
    "slot_for",
]
