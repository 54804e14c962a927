"""The rules `alerts:evaluate` checks every 30 s, and the status-change subscriber.

Each check returns the conditions holding now; `reconcile` fires (or refreshes) an alert for
each and resolves the rule's open alerts whose condition no longer holds, so a check run twice
(two leaders for a moment, a retry) changes nothing the second time.

- `system_status`: from health's `system_state` and status history; the status-change hook
  also fires a `for_minutes: 0` rule, and resolves any, in the transaction that records the
  change, without waiting for the job.
- `dlq_depth`: the routing DLQ's depth.
- `run_failed`: the latest finished (success or failed) run of each trigger.
- `backup_missed`: the newest successful backup the backups feature recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection, func, select

from control_tower.alerts import repository
from control_tower.alerts.lifecycle import (
    Condition,
    fingerprint,
    raise_alert,
    resolve_alert,
    send_due,
)
from control_tower.alerts.rate import resolve_quiet_rates
from control_tower.backups import repository as backups_repository
from control_tower.catalog import Catalog
from control_tower.catalog.alert_rules import (
    AnyAlertRule,
    BackupMissedRule,
    DlqDepthRule,
    RunFailedRule,
    SystemStatusRule,
)
from control_tower.health.hooks import SystemStatusChange
from control_tower.models import runs, system_state, system_status_changes
from control_tower.routing import dlq

log = structlog.get_logger(__name__)


def evaluate_rules(conn: Connection, catalog: Catalog, now: datetime) -> None:
    """Every rule's condition at `now`: fire, refresh and resolve; then send what is due."""
    resolve_quiet_rates(conn, catalog, now)
    for rule in catalog.alert_rules:
        holding = conditions_of(conn, catalog, rule, now)
        if holding is not None:
            reconcile(conn, catalog, rule, holding, now)
    known = {rule.name for rule in catalog.alert_rules}
    for alert in repository.open_alerts(conn):
        if alert.rule not in known:
            resolve_alert(conn, catalog, alert, at=now, reason="rule left the catalogue")
    send_due(conn, catalog, now)


def conditions_of(
    conn: Connection, catalog: Catalog, rule: AnyAlertRule, now: datetime
) -> list[Condition] | None:
    """The rule's conditions holding at `now`; None when this job does not judge it
    (event_rate, judged in routing)."""
    if isinstance(rule, SystemStatusRule):
        return system_status_conditions(conn, catalog, rule, now)
    if isinstance(rule, DlqDepthRule):
        depth = dlq.depth(conn)
        if depth <= rule.more_than:
            return []
        return [Condition(rule, {}, since=now, value=depth, fields={"depth": depth})]
    if isinstance(rule, RunFailedRule):
        return run_failed_conditions(conn, catalog, rule)
    if isinstance(rule, BackupMissedRule):
        return backup_missed_conditions(conn, rule, now)
    return None


def reconcile(
    conn: Connection,
    catalog: Catalog,
    rule: AnyAlertRule,
    holding: Sequence[Condition],
    now: datetime,
) -> None:
    for condition in holding:
        raise_alert(conn, condition, now)
    held = {condition.fingerprint for condition in holding}
    for alert in repository.open_alerts(conn, rule.name):
        if alert.fingerprint not in held:
            resolve_alert(conn, catalog, alert, at=now, reason="condition cleared")


# ---- system_status ---------------------------------------------------------------------------


def _status_rules(catalog: Catalog) -> list[SystemStatusRule]:
    return [rule for rule in catalog.alert_rules if isinstance(rule, SystemStatusRule)]


def _covers(rule: SystemStatusRule, system_id: str) -> bool:
    return not rule.systems or system_id in rule.systems


def _status_condition(
    rule: SystemStatusRule, system_id: str, status: str, spell_start: datetime, now: datetime
) -> Condition:
    minutes = int((now - spell_start).total_seconds() // 60)
    return Condition(
        rule,
        {"system": system_id},
        since=spell_start + timedelta(minutes=rule.for_minutes),
        value=minutes,
        fields={"status": status, "minutes": minutes},
    )


def spell_start(conn: Connection, system_id: str, statuses: frozenset[str]) -> datetime | None:
    """When the system last entered one of `statuses` from another status."""
    value = conn.execute(
        select(func.max(system_status_changes.c.at)).where(
            system_status_changes.c.system_id == system_id,
            system_status_changes.c.to_status.in_(statuses),
            system_status_changes.c.from_status.not_in(statuses),
        )
    ).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


def system_status_conditions(
    conn: Connection, catalog: Catalog, rule: SystemStatusRule, now: datetime
) -> list[Condition]:
    statuses = rule.statuses()
    wanted = [s.id for s in catalog.systems if _covers(rule, s.id)]
    rows = conn.execute(
        select(system_state.c.system_id, system_state.c.status, system_state.c.status_since)
        .where(system_state.c.system_id.in_(wanted), system_state.c.status.in_(statuses))
        .order_by(system_state.c.system_id)
    )
    holding = []
    for row in rows:
        start = spell_start(conn, row.system_id, statuses) or row.status_since or now
        if now - start >= timedelta(minutes=rule.for_minutes):
            holding.append(_status_condition(rule, row.system_id, row.status, start, now))
    return holding


def on_status_changes(
    conn: Connection, catalog: Catalog, changes: Sequence[SystemStatusChange]
) -> None:
    """The status-change subscriber: fire `for_minutes: 0` rules and resolve any rule at the
    change, in the transaction that records it."""
    touched: list[int] = []
    for change in changes:
        for rule in _status_rules(catalog):
            if not _covers(rule, change.system_id):
                continue
            if change.to_status.value in rule.statuses():
                if rule.for_minutes == 0:
                    start = spell_start(conn, change.system_id, rule.statuses()) or change.at
                    condition = _status_condition(
                        rule, change.system_id, change.to_status.value, start, change.at
                    )
                    touched.append(raise_alert(conn, condition, change.at))
                continue
            alert = repository.open_alert(
                conn, fingerprint(rule.name, {"system": change.system_id})
            )
            if alert is not None:
                reason = f"{change.system_id} is {change.to_status.value}"
                resolve_alert(conn, catalog, alert, at=change.at, reason=reason)
                touched.append(int(alert.id))
    if touched:
        send_due(conn, catalog, max(change.at for change in changes), touched)


# ---- run_failed ------------------------------------------------------------------------------


def run_failed_conditions(
    conn: Connection, catalog: Catalog, rule: RunFailedRule
) -> list[Condition]:
    names = rule.triggers or [trigger.name for trigger in catalog.triggers]
    holding = []
    for name in names:
        latest = conn.execute(
            select(runs.c.run_id, runs.c.status, runs.c.ended_at)
            .where(runs.c.trigger == name, runs.c.status.in_(("success", "failed")))
            .order_by(runs.c.ended_at.desc(), runs.c.seq.desc())
            .limit(1)
        ).first()
        if latest is None or latest.status != "failed":
            continue
        trigger = catalog.trigger(name)
        labels = {"trigger": name}
        if trigger is not None:
            labels["system"] = trigger.target.system
        holding.append(
            Condition(rule, labels, since=latest.ended_at, fields={"run_id": latest.run_id})
        )
    return holding


# ---- backup_missed ---------------------------------------------------------------------------


def last_backup_at(conn: Connection) -> datetime | None:
    """When the newest successful backup ended (None: never)."""
    last = backups_repository.last_run(conn, status="ok")
    return last.finished_at if last is not None else None


def backup_missed_conditions(
    conn: Connection, rule: BackupMissedRule, now: datetime
) -> list[Condition]:
    last = last_backup_at(conn)
    limit = timedelta(hours=rule.hours)
    if last is not None and now - last < limit:
        return []
    hours = None if last is None else round((now - last).total_seconds() / 3600, 1)
    return [
        Condition(
            rule,
            {},
            since=now if last is None else last + limit,
            value=hours,
            fields={
                "hours": rule.hours,
                "last_backup_at": "never" if last is None else last.isoformat(),
            },
        )
    ]
