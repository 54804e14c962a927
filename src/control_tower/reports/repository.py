"""The reports' reads: hourly rollups summed over a period, and the few rows they list, each
through an index (a period's bounds are whole UTC hours, so rollup buckets fit exactly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select

from control_tower.models import (
    audit_log,
    ci_failures,
    event_counts,
    event_routes,
    fn_errors,
    ingest_refusals,
    invoice_totals,
    payment_transitions,
    run_transitions,
    runs,
    system_rollups,
    system_status_changes,
)


def _in(table: Table, start: datetime, end: datetime) -> Any:
    return and_(table.c.bucket_start >= start, table.c.bucket_start < end)


def _sums(
    conn: Connection, table: Table, keys: list[str], counters: list[str], start: datetime,
    end: datetime,
) -> list[tuple[Any, ...]]:  # fmt: skip
    """Each key's counters summed over the hours of [start, end) (PostgreSQL sums to numeric:
    back to int)."""
    query = (
        select(*(table.c[k] for k in keys), *(func.sum(table.c[c]) for c in counters))
        .where(_in(table, start, end))
        .group_by(*(table.c[k] for k in keys))
    )
    width = len(keys)
    return [(*row[:width], *(int(v) for v in row[width:])) for row in conn.execute(query)]


def event_counts_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return _sums(conn, event_counts, ["type", "source"], ["events"], start, end)


def fn_errors_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return _sums(conn, fn_errors, ["fn_name", "severity"], ["errors"], start, end)


def payments_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return _sums(conn, payment_transitions, ["status_before", "status_after"], ["payments"],
                 start, end)  # fmt: skip


def invoices_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return _sums(conn, invoice_totals, ["currency"], ["invoices", "total_minor"], start, end)


def refusals_between(conn: Connection, start: datetime, end: datetime) -> list[Any]:
    return _sums(conn, ingest_refusals, ["producer", "source", "reason", "event_type"],
                 ["refused"], start, end)  # fmt: skip


def system_sums_between(conn: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """Errors and failed runs per system (health's rollups)."""
    rows = _sums(conn, system_rollups, ["system_id"], ["errors", "runs_failed"], start, end)
    return {row[0]: row[1:] for row in rows}


def ci_failures_per_repo(conn: Connection, start: datetime, end: datetime) -> dict[str, int]:
    in_range = and_(ci_failures.c.at >= start, ci_failures.c.at < end)
    query = select(ci_failures.c.repo, func.count()).where(in_range).group_by(ci_failures.c.repo)
    return {repo: int(n) for repo, n in conn.execute(query)}


def latest_ci_failures(
    conn: Connection, repo: str, start: datetime, end: datetime, limit: int
) -> list[Any]:
    """A repository's latest failures in [start, end), newest first (index on (repo, at))."""
    query = (
        select(ci_failures)
        .where(ci_failures.c.repo == repo, ci_failures.c.at >= start, ci_failures.c.at < end)
        .order_by(ci_failures.c.at.desc(), ci_failures.c.event_id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))


@dataclass(frozen=True)
class FailedRunRow:
    run_id: str
    trigger: str
    ended_at: datetime
    reason: str


def failed_runs_between(conn: Connection, start: datetime, end: datetime) -> list[FailedRunRow]:
    """Runs that failed in [start, end), with the reason of their `failed` transition (failed
    runs are few: the index on (status, …) finds them)."""
    found = conn.execute(
        select(runs.c.run_id, runs.c.trigger, runs.c.ended_at).where(
            runs.c.status == "failed", runs.c.ended_at >= start, runs.c.ended_at < end
        )
    ).all()
    if not found:
        return []
    reasons = {
        row.run_id: row.reason
        for row in conn.execute(
            select(run_transitions.c.run_id, run_transitions.c.reason)
            .where(
                run_transitions.c.run_id.in_([r.run_id for r in found]),
                run_transitions.c.to_status == "failed",
            )
            .order_by(run_transitions.c.seq)
        )
    }
    return [FailedRunRow(r.run_id, r.trigger, r.ended_at, reasons.get(r.run_id, "")) for r in found]


@dataclass(frozen=True)
class Change:
    at: datetime
    from_status: str
    to_status: str
    reasons: list[dict[str, Any]]


def _change(row: Any) -> Change:
    return Change(row.at, row.from_status, row.to_status, list(row.reasons or []))


def status_before(conn: Connection, system_id: str, instant: datetime) -> Change | None:
    """The last status change strictly before `instant` (what held at `instant`, before any
    change at that very instant)."""
    ssc = system_status_changes
    row = conn.execute(
        select(ssc)
        .where(ssc.c.system_id == system_id, ssc.c.at < instant)
        .order_by(ssc.c.at.desc(), ssc.c.id.desc())
        .limit(1)
    ).first()
    return _change(row) if row is not None else None


def status_changes_between(
    conn: Connection, system_id: str, start: datetime, end: datetime
) -> list[Change]:
    ssc = system_status_changes
    rows = conn.execute(
        select(ssc)
        .where(ssc.c.system_id == system_id, ssc.c.at >= start, ssc.c.at < end)
        .order_by(ssc.c.at, ssc.c.id)
    )
    return [_change(row) for row in rows]


def dead_letters(conn: Connection, start: datetime, end: datetime) -> tuple[int, int]:
    """(events dead before `end`, those of them that died in [start, end)): dead jobs are few,
    found through the index on (status, seq). A replay since takes an event out of both."""
    dead = event_routes.c.status == "dead"
    before_end = conn.execute(
        select(event_routes.c.updated_at).where(dead, event_routes.c.updated_at < end)
    ).scalars()
    times = list(before_end)
    return len(times), sum(1 for at in times if at >= start)


def audit_head_before(conn: Connection, end: datetime) -> tuple[int, str] | None:
    """The last audit row written before `end`: the chain's head then. Rows are appended in
    time order, so the walk down the primary key stops at once."""
    row = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.at < end)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    return (int(row.seq), str(row.hash)) if row is not None else None


def types_seen_between(conn: Connection, start: datetime, end: datetime) -> set[str]:
    query = select(event_counts.c.type).where(_in(event_counts, start, end)).distinct()
    return set(conn.execute(query).scalars())
