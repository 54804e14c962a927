"""SQL of alerts, their history, silences and the event_rate sliding counts (both stores)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from control_tower.db import conflict_insert
from control_tower.models import alert_events, alert_rate_buckets, alerts, silences
from control_tower.models.alerts import AlertState

# ---- alerts ----------------------------------------------------------------------------------


def insert_open_alert(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert an alert for a fingerprint with no open alert; None when one is already open
    (another router or job fired it first: the unique `open_fingerprint` decides)."""
    stmt = (
        conflict_insert(conn, alerts)
        .values(open_fingerprint=values["fingerprint"], **values)
        .on_conflict_do_nothing(index_elements=["open_fingerprint"])
        .returning(alerts.c.id)
    )
    row = conn.execute(stmt).first()
    return None if row is None else int(row.id)


def open_alert(conn: Connection, fingerprint: str) -> Row[Any] | None:
    return conn.execute(select(alerts).where(alerts.c.open_fingerprint == fingerprint)).first()


def open_alerts(conn: Connection, rule: str | None = None) -> list[Row[Any]]:
    query = select(alerts).where(alerts.c.open_fingerprint.is_not(None))
    if rule is not None:
        query = query.where(alerts.c.rule == rule)
    return list(conn.execute(query.order_by(alerts.c.id)))


def get_alert(conn: Connection, alert_id: int, *, lock: bool = False) -> Row[Any] | None:
    query = select(alerts).where(alerts.c.id == alert_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def update_alert(conn: Connection, alert_id: int, values: dict[str, Any], **expect: Any) -> bool:
    """Update one alert if its columns still hold `expect` (an optimistic check); whether it did."""
    conditions = [alerts.c.id == alert_id] + [alerts.c[k] == v for k, v in expect.items()]
    result = conn.execute(update(alerts).where(*conditions).values(**values))
    return bool(result.rowcount == 1)


def last_notified_at(conn: Connection, fingerprint: str) -> datetime | None:
    """When the fingerprint's alerts last notified (a re-firing waits group_interval after it)."""
    value = conn.execute(
        select(func.max(alerts.c.last_notified_at)).where(alerts.c.fingerprint == fingerprint)
    ).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


def due_alerts(conn: Connection, now: datetime, ids: Sequence[int] | None, limit: int) -> list[Any]:
    query = select(alerts).where(alerts.c.next_notify_at <= now)
    if ids is not None:
        query = query.where(alerts.c.id.in_(ids))
    return list(conn.execute(query.order_by(alerts.c.next_notify_at, alerts.c.id).limit(limit)))


def list_alerts(
    conn: Connection,
    state: AlertState | None,
    rule: str | None,
    limit: int,
    before: int | None,
) -> list[Row[Any]]:
    query = select(alerts)
    if state is not None:
        query = query.where(alerts.c.state == state)
    if rule is not None:
        query = query.where(alerts.c.rule == rule)
    if before is not None:
        query = query.where(alerts.c.id < before)
    return list(conn.execute(query.order_by(alerts.c.id.desc()).limit(limit)))


def add_event(
    conn: Connection,
    alert_id: int,
    *,
    at: datetime,
    kind: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(alert_events).values(
            alert_id=alert_id, at=at, kind=kind, actor=actor, details=details or {}
        )
    )


def events_of(conn: Connection, alert_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(alert_events)
            .where(alert_events.c.alert_id == alert_id)
            .order_by(alert_events.c.seq)
        )
    )


# ---- silences --------------------------------------------------------------------------------


def insert_silence(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(insert(silences).values(**values).returning(silences.c.id)).scalar_one()
    )


def get_silence(conn: Connection, silence_id: int) -> Row[Any] | None:
    return conn.execute(select(silences).where(silences.c.id == silence_id)).first()


def active_silences(conn: Connection, now: datetime) -> list[Row[Any]]:
    """Silences in force at `now`: started, not ended, not deleted."""
    return list(
        conn.execute(
            select(silences)
            .where(
                silences.c.deleted_at.is_(None),
                silences.c.starts_at <= now,
                silences.c.ends_at > now,
            )
            .order_by(silences.c.id)
        )
    )


def list_silences(conn: Connection, now: datetime, include_ended: bool) -> list[Row[Any]]:
    """Silences newest first; without `include_ended`, only those active or still to start."""
    query = select(silences)
    if not include_ended:
        query = query.where(silences.c.deleted_at.is_(None), silences.c.ends_at > now)
    return list(conn.execute(query.order_by(silences.c.id.desc()).limit(500)))


def delete_silence(conn: Connection, silence_id: int, *, at: datetime, by: str) -> bool:
    result = conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.deleted_at.is_(None))
        .values(deleted_at=at, deleted_by=by)
    )
    return bool(result.rowcount == 1)


# ---- event_rate sliding counts ---------------------------------------------------------------

# The first key of the alerts' two-key advisory locks (PostgreSQL keeps one-key locks, like the
# scheduler's leader lock, apart from two-key ones).
RATE_LOCK_CLASS = 0x0A1E


def lock_fingerprints(conn: Connection, fingerprints: Iterable[str]) -> None:
    """Serialise the transactions that count the same fingerprints until they commit.

    PostgreSQL: two routers (or a router and `alerts:evaluate`) counting one fingerprint at
    once would each miss the other's uncommitted events, and neither might see the threshold
    crossed; a transaction-level advisory lock per fingerprint, taken in sorted order, makes
    the second count after the first commits (its statements then see those rows). SQLite
    already runs write transactions one at a time.
    """
    if conn.dialect.name != "postgresql":
        return
    for print_ in sorted(set(fingerprints)):
        conn.execute(select(func.pg_advisory_xact_lock(RATE_LOCK_CLASS, int(print_[:7], 16))))


def add_to_buckets(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Add counts per (rule, fingerprint, second); rows are sorted so concurrent routers lock
    the same rows in the same order (PostgreSQL)."""
    ordered = sorted(rows, key=lambda r: (r["rule"], r["fingerprint"], r["bucket_at"]))
    if not ordered:
        return
    stmt = conflict_insert(conn, alert_rate_buckets)
    stmt = stmt.on_conflict_do_update(
        index_elements=["rule", "fingerprint", "bucket_at"],
        set_={"hits": alert_rate_buckets.c.hits + stmt.excluded.hits},
    )
    conn.execute(stmt, ordered)


def bucket_counts(
    conn: Connection, rule: str, fingerprint: str, after: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """(second, count) of one fingerprint in (after, until], oldest first."""
    rows = conn.execute(
        select(alert_rate_buckets.c.bucket_at, alert_rate_buckets.c.hits)
        .where(
            alert_rate_buckets.c.rule == rule,
            alert_rate_buckets.c.fingerprint == fingerprint,
            alert_rate_buckets.c.bucket_at > after,
            alert_rate_buckets.c.bucket_at <= until,
        )
        .order_by(alert_rate_buckets.c.bucket_at)
    )
    return [(row.bucket_at, int(row.hits)) for row in rows]


def window_count(
    conn: Connection, rule: str, fingerprint: str, after: datetime, until: datetime
) -> int:
    value = conn.execute(
        select(func.coalesce(func.sum(alert_rate_buckets.c.hits), 0)).where(
            alert_rate_buckets.c.rule == rule,
            alert_rate_buckets.c.fingerprint == fingerprint,
            alert_rate_buckets.c.bucket_at > after,
            alert_rate_buckets.c.bucket_at <= until,
        )
    ).scalar_one()
    return int(value)


def prune_buckets(conn: Connection, rule: str, before: datetime) -> None:
    conn.execute(
        alert_rate_buckets.delete().where(
            alert_rate_buckets.c.rule == rule, alert_rate_buckets.c.bucket_at <= before
        )
    )


def prune_unknown_rules(conn: Connection, rules: Sequence[str]) -> None:
    """Drop the counts of rules no longer in the catalogue."""
    query = alert_rate_buckets.delete()
    if rules:
        query = query.where(alert_rate_buckets.c.rule.not_in(rules))
    conn.execute(query)
