from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, Text

from control_tower.models.base import UTCDateTime, metadata

# One row per registered job. `last_slot_at` is the scheduled slot last claimed: claiming a slot
# is a compare-and-set on it, so a slot runs once however many schedulers see it due.
# `schedule` is the job's schedule as people read it ("daily at 08:00 Europe/London"), for
# `ct jobs list`; the code's Job is the source of truth. `last_late`: the last slot was a
# missed one run by catch-up.
scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("schedule", String(128), nullable=False),
    Column("last_slot_at", UTCDateTime(), nullable=True),
    Column("last_late", Boolean(), nullable=True),
    Column("last_started_at", UTCDateTime(), nullable=True),
    Column("last_finished_at", UTCDateTime(), nullable=True),
    Column("last_status", String(16), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("runs", Integer, nullable=False, server_default="0"),
)
