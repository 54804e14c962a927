"""SQL for runs: one code path for SQLite and PostgreSQL, dialect branches side by side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select, text

from control_tower.events.repository import with_routing
from control_tower.kit.fenced_update import fenced_update
from control_tower.models import events, run_notes, run_transitions, runs
from control_tower.runs.schemas import RunStatus

ACTIVE = (RunStatus.queued.value, RunStatus.running.value)


def lock_creation(conn: Connection, trigger: str, idempotency_key: str | None) -> None:
    """Serialise creations of one trigger (and of one Idempotency-Key across triggers) so
    dedupe, keys and rate limits cannot race.

    SQLite already holds the database write lock (BEGIN IMMEDIATE); PostgreSQL takes
    transaction-scoped advisory locks, always in the same order (key, then trigger).
    """
    if conn.dialect.name != "postgresql":
        return
    names = [f"ct.trigger:{trigger}"]
    if idempotency_key is not None:
        names.insert(0, f"ct.idempotency:{idempotency_key}")
    for name in names:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": name})


def insert_run(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(runs.insert().values(**row))


def get_run(conn: Connection, run_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(runs).where(runs.c.run_id == run_id)
    if for_update:
        # FOR UPDATE on PostgreSQL; SQLite ignores it (its write transaction is already exclusive).
        query = query.with_for_update()
    return conn.execute(query).first()


def find_by_idempotency_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(select(runs).where(runs.c.idempotency_key == key)).first()


def find_recent_duplicate(
    conn: Connection, trigger: str, inputs_sha256: str, since: datetime
) -> Row[Any] | None:
    """The newest run of this trigger with the same inputs created after `since`."""
    query = (
        select(runs)
        .where(
            runs.c.trigger == trigger,
            runs.c.inputs_sha256 == inputs_sha256,
            runs.c.created_at > since,
        )
        .order_by(runs.c.seq.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def update_run(
    conn: Connection, run_id: str, values: dict[str, Any], expect: dict[str, Any]
) -> bool:
    """Update one run if it still matches `expect` (a fence against a stale worker)."""
    return fenced_update(conn, runs, runs.c.run_id, run_id, values, expect)


def insert_transition(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(run_transitions.insert().values(**row))


def insert_note(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(run_notes.insert().values(**row))


def claim_candidate(conn: Connection, now: datetime) -> Row[Any] | None:
    """The next due run whose lease is free or expired, locked for this transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers claim different runs at once.
    SQLite: the clause is not rendered; BEGIN IMMEDIATE has already serialised writers.
    """
    query = (
        select(runs)
        .where(
            runs.c.status.in_(ACTIVE),
            runs.c.next_attempt_at <= now,
            or_(runs.c.lease_expires_at.is_(None), runs.c.lease_expires_at <= now),
        )
        .order_by(runs.c.next_attempt_at, runs.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(query).first()


@dataclass(frozen=True)
class RunFilter:
    trigger: str | None = None
    status: str | None = None
    initiator: str | None = None
    since: datetime | None = None


def list_runs(
    conn: Connection, flt: RunFilter, limit: int, before_seq: int | None
) -> list[Row[Any]]:
    query = select(runs)
    if flt.trigger:
        query = query.where(runs.c.trigger == flt.trigger)
    if flt.status:
        query = query.where(runs.c.status == flt.status)
    if flt.initiator:
        query = query.where(runs.c.initiator == flt.initiator)
    if flt.since:
        query = query.where(runs.c.created_at >= flt.since)
    if before_seq is not None:
        query = query.where(runs.c.seq < before_seq)
    return list(conn.execute(query.order_by(runs.c.seq.desc()).limit(limit)))


def transitions_of(conn: Connection, run_id: str) -> list[Row[Any]]:
    query = (
        select(run_transitions)
        .where(run_transitions.c.run_id == run_id)
        .order_by(run_transitions.c.seq)
    )
    return list(conn.execute(query))


def notes_of(conn: Connection, run_id: str) -> list[Row[Any]]:
    query = select(run_notes).where(run_notes.c.run_id == run_id).order_by(run_notes.c.seq)
    return list(conn.execute(query))


def correlated_events(conn: Connection, run_id: str, limit: int = 200) -> list[Row[Any]]:
    query = (
        with_routing().where(events.c.correlation_id == run_id).order_by(events.c.seq).limit(limit)
    )
    return list(conn.execute(query))
