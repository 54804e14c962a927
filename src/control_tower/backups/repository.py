"""The SQL of backups: the record of backup runs, and the batched deletion of old events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, or_, select, update

from control_tower.models import backup_runs, event_routes, events
from control_tower.models.backups import BackupStatus


@dataclass(frozen=True)
class BackupRun:
    id: int
    name: str
    location: str
    initiator: str
    slot_at: datetime | None
    status: BackupStatus
    started_at: datetime
    finished_at: datetime
    snapshot_at: datetime | None
    verified_at: datetime | None
    rows: int | None
    bytes: int | None
    events_max_seq: int | None
    error: str | None
    pruned_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> BackupRun:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def record_run(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(backup_runs.insert().values(**values).returning(backup_runs.c.id))
    return int(inserted.scalar_one())


def ok_for_slot(conn: Connection, slot_at: datetime) -> bool:
    """Whether a backup for this scheduled slot already succeeded (a slot run twice)."""
    found = conn.execute(
        select(backup_runs.c.id)
        .where(backup_runs.c.slot_at == slot_at, backup_runs.c.status == "ok")
        .limit(1)
    ).first()
    return found is not None


def last_run(conn: Connection, *, status: BackupStatus | None = None) -> BackupRun | None:
    query = select(backup_runs).order_by(backup_runs.c.finished_at.desc(), backup_runs.c.id.desc())
    if status is not None:
        query = query.where(backup_runs.c.status == status)
    row = conn.execute(query.limit(1)).first()
    return BackupRun.from_row(row) if row else None


def newest_verified(conn: Connection) -> BackupRun | None:
    """The newest backup that was read back and matched its manifest, and still exists."""
    row = conn.execute(
        select(backup_runs)
        .where(
            backup_runs.c.status == "ok",
            backup_runs.c.verified_at.is_not(None),
            backup_runs.c.pruned_at.is_(None),
        )
        .order_by(backup_runs.c.snapshot_at.desc(), backup_runs.c.id.desc())
        .limit(1)
    ).first()
    return BackupRun.from_row(row) if row else None


def recent_runs(conn: Connection, limit: int) -> list[BackupRun]:
    rows = conn.execute(select(backup_runs).order_by(backup_runs.c.id.desc()).limit(limit)).all()
    return [BackupRun.from_row(r) for r in rows]


def mark_pruned(conn: Connection, location: str, now: datetime) -> None:
    conn.execute(
        update(backup_runs)
        .where(backup_runs.c.location == location, backup_runs.c.pruned_at.is_(None))
        .values(pruned_at=now)
    )


def oldest_event_received_at(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(
        select(events.c.received_at).order_by(events.c.seq).limit(1)
    ).scalar()
    return value


def delete_old_events(
    conn: Connection, *, occurred_before: datetime, max_seq: int, received_before: datetime,
    limit: int,
) -> int:  # fmt: skip
    """Delete up to `limit` events that occurred before `occurred_before` and that a backup
    holds (seq ≤ max_seq, received before received_before), with their outbox rows; only
    events routed (or without an outbox row): pending, retrying and dead ones stay."""
    batch = conn.execute(
        select(events.c.seq, events.c.event_id)
        .outerjoin(event_routes, event_routes.c.event_id == events.c.event_id)
        .where(
            events.c.occurred_at < occurred_before,
            events.c.seq <= max_seq,
            events.c.received_at < received_before,
            or_(event_routes.c.status == "routed", event_routes.c.event_id.is_(None)),
        )
        .order_by(events.c.occurred_at)
        .limit(limit)
    ).all()
    if not batch:
        return 0
    conn.execute(delete(event_routes).where(event_routes.c.event_id.in_([r[1] for r in batch])))
    conn.execute(delete(events).where(events.c.seq.in_([r[0] for r in batch])))
    return len(batch)
