"""SQL behind the dashboards' panels: rollups, and indexed ranges stopped by a LIMIT.

Every read here is bounded whatever the size of the store: a rollup read over a window
(`system_rollups`, and the reports feature's `event_counts`, `invoice_totals`,
`payment_transitions`, `ci_failures`, `fn_errors`), or a range of one index read newest first
and cut at `limit` rows (the caller says when the cut was reached).
One code path serves SQLite and PostgreSQL; buckets are made in Python from the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select

from control_tower.models import (
    alerts,
    run_transitions,
    runs,
    system_state,
    system_status_changes,
)
from control_tower.models.reports import (
    ci_failures,
    event_counts,
    fn_errors,
    invoice_totals,
    payment_transitions,
    report_archive,
)

# -- health --------------------------------------------------------------------------------


def system_states(conn: Connection) -> dict[str, Row[Any]]:
    return {r.system_id: r for r in conn.execute(select(system_state))}


def status_changes(
    conn: Connection, system_ids: Iterable[str], since: datetime, limit: int = 2000
) -> dict[str, tuple[str | None, list[Row[Any]]]]:
    """Per system: the status it had at `since` (the last change before it, if any) and the
    changes after it, oldest first (index `system_id, at`)."""
    t = system_status_changes
    out: dict[str, tuple[str | None, list[Row[Any]]]] = {}
    for system_id in system_ids:
        before = conn.execute(
            select(t.c.to_status)
            .where(t.c.system_id == system_id, t.c.at < since)
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
        ).first()
        changes: list[Row[Any]] = list(
            conn.execute(
                select(t.c.at, t.c.from_status, t.c.to_status)
                .where(t.c.system_id == system_id, t.c.at >= since)
                .order_by(t.c.at, t.c.id)
                .limit(limit)
            )
        )
        out[system_id] = (before.to_status if before else None, changes)
    return out


# -- events --------------------------------------------------------------------------------


def hourly_event_counts(conn: Connection, since: datetime, until: datetime) -> list[Row[Any]]:
    """(bucket_start, type, events) from the `event_counts` rollup."""
    t = event_counts
    query = (
        select(t.c.bucket_start, t.c.type, func.sum(t.c.events).label("events"))
        .where(t.c.bucket_start >= since, t.c.bucket_start < until)
        .group_by(t.c.bucket_start, t.c.type)
    )
    return list(conn.execute(query))


def event_counts_by_type(conn: Connection, types: Sequence[str], since: datetime) -> dict[str, int]:
    t = event_counts
    query = (
        select(t.c.type, func.sum(t.c.events))
        .where(t.c.bucket_start >= since, t.c.type.in_(list(types)))
        .group_by(t.c.type)
    )
    return {r[0]: int(r[1]) for r in conn.execute(query)}


# -- finance, CI, errors: rollups of the reports feature -------------------------------------


def invoice_rollup(conn: Connection, since: datetime) -> list[Row[Any]]:
    t = invoice_totals
    return list(conn.execute(
        select(t.c.bucket_start, t.c.currency, t.c.invoices, t.c.total_minor)
        .where(t.c.bucket_start >= since)
    ))  # fmt: skip


def payment_rollup(conn: Connection, since: datetime) -> list[Row[Any]]:
    t = payment_transitions
    return list(conn.execute(
        select(t.c.bucket_start, t.c.status_after, t.c.payments).where(t.c.bucket_start >= since)
    ))  # fmt: skip


def ci_failure_rows(conn: Connection, since: datetime, limit: int) -> list[Row[Any]]:
    t = ci_failures
    return list(conn.execute(
        select(t).where(t.c.at >= since).order_by(t.c.at.desc()).limit(limit)
    ))  # fmt: skip


def fn_error_totals(conn: Connection, since: datetime) -> dict[str, int]:
    t = fn_errors
    query = (
        select(t.c.fn_name, func.sum(t.c.errors))
        .where(t.c.bucket_start >= since)
        .group_by(t.c.fn_name)
    )
    return {r[0]: int(r[1]) for r in conn.execute(query)}


# -- runs ----------------------------------------------------------------------------------


def runs_since(
    conn: Connection, triggers: Sequence[str], since: datetime, limit: int
) -> list[Row[Any]]:
    """Runs created since `since`, per trigger (`ix_runs_trigger_created_at`)."""
    rows: list[Row[Any]] = []
    for trigger in triggers:
        query = (
            select(runs.c.run_id, runs.c.trigger, runs.c.status, runs.c.created_at,
                   runs.c.ended_at)
            .where(runs.c.trigger == trigger, runs.c.created_at >= since)
            .order_by(runs.c.created_at.desc())
            .limit(limit)
        )  # fmt: skip
        rows.extend(conn.execute(query))
    return rows


def failure_transitions(conn: Connection, run_ids: Sequence[str]) -> list[Row[Any]]:
    """The `failed` transition of each of these runs (`ix_run_transitions_run_id_seq`)."""
    if not run_ids:
        return []
    t = run_transitions
    query = select(t.c.run_id, t.c.reason, t.c.at).where(
        and_(t.c.run_id.in_(list(run_ids)), t.c.to_status == "failed")
    )
    return list(conn.execute(query))


# -- alerts and reports -------------------------------------------------------------------


def open_alerts(conn: Connection, limit: int) -> list[Row[Any]]:
    t = alerts
    query = (
        select(t.c.id, t.c.rule, t.c.severity, t.c.summary, t.c.state, t.c.started_at,
               t.c.acknowledged_by, t.c.labels)
        .where(t.c.state.in_(("firing", "acknowledged")))
        .order_by(t.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return list(conn.execute(query))


def recent_alerts(conn: Connection, limit: int) -> list[Row[Any]]:
    t = alerts
    query = (
        select(t.c.id, t.c.rule, t.c.severity, t.c.summary, t.c.state, t.c.started_at,
               t.c.resolved_at, t.c.labels)
        .order_by(t.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return list(conn.execute(query))


def archived_reports(conn: Connection, limit: int) -> list[Row[Any]]:
    t = report_archive
    query = (
        select(t.c.kind, t.c.period, t.c.created_at, t.c.late, t.c.delivered_at)
        .order_by(t.c.created_at.desc())
        .limit(limit)
    )
    return list(conn.execute(query))


def archived_report(conn: Connection, kind: str, period: str) -> Row[Any] | None:
    t = report_archive
    return conn.execute(select(t).where(t.c.kind == kind, t.c.period == period)).first()


def ci_failures_per_repo(conn: Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Failed workflows per repository in [start, end) (`ix_ci_failures_at`, one range)."""
    t = ci_failures
    query = select(t.c.repo, func.count()).where(t.c.at >= start, t.c.at < end).group_by(t.c.repo)
    return {r[0]: int(r[1]) for r in conn.execute(query)}
