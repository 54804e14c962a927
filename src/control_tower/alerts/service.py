"""What the API and the CLI do with alerts and silences; every ack and silence is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from control_tower.alerts import repository
from control_tower.alerts.lifecycle import acknowledge_alert, rule_named, send_due, silenced_by
from control_tower.alerts.schemas import (
    Alert,
    AlertDetail,
    AlertEvent,
    AlertPage,
    AlertStateName,
    Silence,
    SilenceIn,
    SilenceList,
    SilenceState,
)
from control_tower.audit import chain
from control_tower.catalog import Catalog
from control_tower.kit.durations import parse_duration
from control_tower.kit.errors import Conflict, NotFound, Unprocessable
from control_tower.kit.pagination import seq_page

MAX_SILENCE = timedelta(days=90)


@dataclass(frozen=True)
class _Keyed:
    """An alert row as keyset pagination sees it: its id is the sequence."""

    row: Row[Any]

    @property
    def seq(self) -> int:
        return int(self.row.id)


def list_alerts(
    conn: Connection,
    catalog: Catalog,
    *,
    state: AlertStateName | None,
    rule: str | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> AlertPage:
    """Alerts newest first."""

    def fetch(n: int, before: int | None) -> list[_Keyed]:
        return [_Keyed(r) for r in repository.list_alerts(conn, state, rule, n, before)]

    page, next_cursor = seq_page(fetch, limit, cursor)
    silences = repository.active_silences(conn, now)
    return AlertPage(
        items=[_alert(catalog, item.row, silences) for item in page], next_cursor=next_cursor
    )


def get_alert(conn: Connection, catalog: Catalog, alert_id: int, now: datetime) -> AlertDetail:
    row = repository.get_alert(conn, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    base = _alert(catalog, row, repository.active_silences(conn, now))
    events = [
        AlertEvent(at=e.at, kind=e.kind, actor=e.actor, details=e.details)
        for e in repository.events_of(conn, alert_id)
    ]
    return AlertDetail(**base.model_dump(), events=events)


def acknowledge(
    conn: Connection,
    catalog: Catalog,
    alert_id: int,
    *,
    actor: str,
    comment: str | None,
    now: datetime,
) -> Alert:
    """Acknowledge a firing alert (audited as `alert.acknowledged`); a pager that was paged
    hears `acknowledge` in the same transaction."""
    row = acknowledge_alert(conn, alert_id, actor=actor, comment=comment, now=now)
    chain.append(
        conn,
        at=now,
        actor=actor,
        action="alert.acknowledged",
        target=f"alert:{alert_id}",
        details={"rule": row.rule, "fingerprint": row.fingerprint, "comment": comment},
    )
    send_due(conn, catalog, now, [alert_id])
    updated = repository.get_alert(conn, alert_id)
    assert updated is not None
    return _alert(catalog, updated, repository.active_silences(conn, now))


def _alert(catalog: Catalog, row: Row[Any], silences: list[Row[Any]]) -> Alert:
    rule = rule_named(catalog, row.rule)
    return Alert(
        id=row.id,
        rule=row.rule,
        kind=row.kind,
        fingerprint=row.fingerprint,
        labels=row.labels,
        state=row.state,
        severity=row.severity,
        summary=row.summary,
        value=row.value,
        runbook_url=rule.runbook_url if rule is not None else None,
        started_at=row.started_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        notify_count=row.notify_count,
        last_notified_at=row.last_notified_at,
        next_notify_at=row.next_notify_at,
        silenced_by=silenced_by(silences, row.rule, row.labels) if row.state == "firing" else [],
    )


# ---- silences --------------------------------------------------------------------------------


def list_silences(conn: Connection, *, now: datetime, include_ended: bool) -> SilenceList:
    rows = repository.list_silences(conn, now, include_ended)
    return SilenceList(items=[_silence(row, now) for row in rows])


def create_silence(
    conn: Connection, catalog: Catalog, request: SilenceIn, *, actor: str, now: datetime
) -> Silence:
    """Silence the alerts of a rule and/or a system until a time (audited)."""
    problems = _silence_problems(catalog, request)
    starts_at, ends_at, window_problems = _silence_window(request, now)
    problems += window_problems
    if problems:
        said = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise Unprocessable(f"invalid silence: {said}", details=problems)
    values = {
        "rule": request.rule,
        "system": request.system,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "created_by": actor,
        "comment": request.comment,
        "created_at": now,
    }
    silence_id = repository.insert_silence(conn, values)
    chain.append(
        conn,
        at=now,
        actor=actor,
        action="silence.created",
        target=f"silence:{silence_id}",
        details={
            "rule": request.rule,
            "system": request.system,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "comment": request.comment,
        },
    )
    row = repository.get_silence(conn, silence_id)
    assert row is not None
    return _silence(row, now)


def _silence_window(
    request: SilenceIn, now: datetime
) -> tuple[datetime, datetime, list[dict[str, str]]]:
    """(start, end, problems): from now by default, until ends_at or for duration."""
    starts_at = request.starts_at or now
    if (request.ends_at is None) == (request.duration is None):
        return starts_at, starts_at, []  # reported by _silence_problems
    try:
        length = parse_duration(request.duration) if request.duration else None
        ends_at = starts_at + length if length is not None else request.ends_at or starts_at
    except (ValueError, OverflowError):
        return starts_at, starts_at, [{"field": "body.duration", "message": "ends too late"}]
    if ends_at <= max(starts_at, now):
        return starts_at, ends_at, [{"field": "body.ends_at", "message": "must be in the future"}]
    if ends_at - starts_at > MAX_SILENCE:
        return starts_at, ends_at, [{"field": "body.ends_at", "message": "at most 90 days"}]
    return starts_at, ends_at, []


def _silence_problems(catalog: Catalog, request: SilenceIn) -> list[dict[str, str]]:
    problems = []
    if request.rule is None and request.system is None:
        problems.append({"field": "body.rule", "message": "name a rule, a system or both"})
    if request.rule is not None and rule_named(catalog, request.rule) is None:
        problems.append({"field": "body.rule", "message": f"no alert rule {request.rule!r}"})
    if request.system is not None and catalog.system(request.system) is None:
        problems.append({"field": "body.system", "message": f"no system {request.system!r}"})
    if (request.ends_at is None) == (request.duration is None):
        problems.append({"field": "body.ends_at", "message": "give ends_at or duration (one)"})
    return problems


def delete_silence(conn: Connection, silence_id: int, *, actor: str, now: datetime) -> Silence:
    """End a silence now (audited); 409 if it was deleted already."""
    row = repository.get_silence(conn, silence_id)
    if row is None:
        raise NotFound(f"no silence {silence_id}")
    if not repository.delete_silence(conn, silence_id, at=now, by=actor):
        raise Conflict(f"silence {silence_id} was deleted already", code="silence_deleted")
    chain.append(
        conn,
        at=now,
        actor=actor,
        action="silence.deleted",
        target=f"silence:{silence_id}",
        details={"rule": row.rule, "system": row.system},
    )
    deleted = repository.get_silence(conn, silence_id)
    assert deleted is not None
    return _silence(deleted, now)


def silence_state(row: Row[Any], now: datetime) -> SilenceState:
    if row.deleted_at is not None:
        return "deleted"
    if row.ends_at <= now:
        return "expired"
    return "pending" if row.starts_at > now else "active"


def _silence(row: Row[Any], now: datetime) -> Silence:
    return Silence(
        id=row.id,
        rule=row.rule,
        system=row.system,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        state=silence_state(row, now),
        created_by=row.created_by,
        comment=row.comment,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
    )
