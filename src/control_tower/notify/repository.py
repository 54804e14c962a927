"""SQL for the notification outbox: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, func, or_, select

from control_tower.db import conflict_insert
from control_tower.kit.fenced_update import fenced_update
from control_tower.models import notification_attempts, notifications

DUE = ("pending", "failed")


def insert_notification(conn: Connection, row: dict[str, Any]) -> bool:
    """Queue a row unless its (channel, key) is already queued; True when it was inserted.

    RETURNING says whether it was: with it, PostgreSQL's rowcount is not reported (-1).
    """
    query = (
        conflict_insert(conn, notifications)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["channel", "idempotency_key"])
        .returning(notifications.c.id)
    )
    return conn.execute(query).first() is not None


def claim_candidate(conn: Connection, now: datetime) -> Row[Any] | None:
    """The next due notification whose lease is free or expired, locked for this transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets several workers claim different rows at once.
    SQLite: the clause is not rendered; BEGIN IMMEDIATE has already serialised writers.
    """
    query = (
        select(notifications)
        .where(
            notifications.c.status.in_(DUE),
            notifications.c.next_attempt_at <= now,
            or_(
                notifications.c.lease_expires_at.is_(None),
                notifications.c.lease_expires_at <= now,
            ),
        )
        .order_by(notifications.c.next_attempt_at, notifications.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(query).first()


def update_notification(
    conn: Connection, notification_id: int, values: dict[str, Any], expect: dict[str, Any]
) -> bool:
    """Update one row if it still matches `expect` (the fence against a stale worker)."""
    return fenced_update(conn, notifications, notifications.c.id, notification_id, values, expect)


def insert_attempt(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(notification_attempts.insert().values(**row))


@dataclass(frozen=True)
class NotificationFilter:
    status: str | None = None
    channel: str | None = None
    since: datetime | None = None


def list_notifications(
    conn: Connection, flt: NotificationFilter, limit: int, before_id: int | None
) -> list[Row[Any]]:
    """Newest first; `seq` is the id, for kit.pagination's keyset pages."""
    query = select(notifications, notifications.c.id.label("seq"))
    if flt.status:
        query = query.where(notifications.c.status == flt.status)
    if flt.channel:
        query = query.where(notifications.c.channel == flt.channel)
    if flt.since:
        query = query.where(notifications.c.created_at >= flt.since)
    if before_id is not None:
        query = query.where(notifications.c.id < before_id)
    return list(conn.execute(query.order_by(notifications.c.id.desc()).limit(limit)))


def attempts_of(conn: Connection, ids: list[int]) -> dict[int, list[Row[Any]]]:
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    if not ids:
        return found
    query = (
        select(notification_attempts)
        .where(notification_attempts.c.notification_id.in_(ids))
        .order_by(notification_attempts.c.notification_id, notification_attempts.c.attempt)
    )
    for row in conn.execute(query):
        found[row.notification_id].append(row)
    return found


@dataclass(frozen=True)
class ChannelRecord:
    """What health needs to know about one channel's recent deliveries."""

    channel: str
    recent_outcomes: list[str]  # newest first
    last_detail: str | None
    last_success_at: datetime | None
    last_dead_at: datetime | None


def channel_records(
    conn: Connection, since: datetime, dead_since: datetime, recent: int
) -> list[ChannelRecord]:
    """Each channel with an attempt since `since` or a notification dead since `dead_since`."""
    a = notification_attempts.c
    success_at = func.max(case((a.outcome == "success", a.at)))
    seen = {
        r.channel: r.last_success_at
        for r in conn.execute(
            select(a.channel, success_at.label("last_success_at"))
            .where(a.at >= since)
            .group_by(a.channel)
        )
    }
    n = notifications.c
    dead = {
        r.channel: r.last_dead_at
        for r in conn.execute(
            select(n.channel, func.max(n.updated_at).label("last_dead_at"))
            .where(n.status == "dead", n.updated_at >= dead_since)
            .group_by(n.channel)
        )
    }
    records = []
    for channel in sorted(seen.keys() | dead.keys()):
        last = list(
            conn.execute(
                select(a.outcome, a.detail)
                .where(a.channel == channel, a.at >= since)
                .order_by(a.at.desc(), a.id.desc())
                .limit(recent)
            )
        )
        records.append(
            ChannelRecord(
                channel=channel,
                recent_outcomes=[r.outcome for r in last],
                last_detail=last[0].detail if last else None,
                last_success_at=seen.get(channel),
                last_dead_at=dead.get(channel),
            )
        )
    return records
