from __future__ import annotations

from typing import Literal

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from control_tower.models.base import BigIntId, UTCDateTime, metadata

BackupStatus = Literal["ok", "failed"]

# One row per finished backup attempt (written when it ends, so a backup's own snapshot never
# holds a half-written row of itself). `location` is the backup's folder or URL; the manifest
# there is the source of truth for what it holds. `verified_at`: the files were read back and
# matched the manifest. `events_max_seq` / `snapshot_at` say which events it holds (event
# retention prunes only those); `pruned_at`: the retention tiers deleted it.
backup_runs = Table(
    "backup_runs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("location", String(1024), nullable=False),
    Column("initiator", String(128), nullable=False),
    Column("slot_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),  # a BackupStatus
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("snapshot_at", UTCDateTime(), nullable=True),
    Column("verified_at", UTCDateTime(), nullable=True),
    Column("rows", BigInteger, nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("events_max_seq", BigInteger, nullable=True),
    Column("manifest_sha256", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("pruned_at", UTCDateTime(), nullable=True),
    Index("ix_backup_runs_status_finished_at", "status", "finished_at"),
    Index("ix_backup_runs_slot_at", "slot_at"),
)
