"""An alert's life — firing → acknowledged → resolved — and when each notification is due.

Timing is Alertmanager's, per alert (an alert is one rule's condition for one set of labels,
its fingerprint):

- the first notification (`trigger`) goes `group_wait` after the alert started, or, when the
  same fingerprint notified within `group_interval` before (a flapping condition), not before
  that notification + `group_interval`;
- while it keeps firing unacknowledged, a reminder (`trigger` again) every `repeat_interval`;
  changes of value or summary alone notify nobody (forty errors still give one page);
- acknowledging an alert that paged sends `acknowledge` at once and stops the reminders;
- resolving an alert that paged sends `resolve` (with `send_resolved`), not before the last
  notification + `group_interval`;
- a silence matching the alert holds its `trigger` notifications while it is active (they go
  out when it ends, if the alert still fires); `acknowledge` and `resolve` still go, so a
  receiver that was paged is never left with an open incident.

Every notification has a sequence number; it is queued with notify's `enqueue` under the key
`alert-<id>-<seq>` in the transaction that advances the alert, so it is queued exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Row

from control_tower.alerts import repository
from control_tower.alerts.delivery import deliver
from control_tower.catalog import Catalog
from control_tower.catalog.alert_rules import (
    AnyAlertRule,
    BackupMissedRule,
    DlqDepthRule,
    EventRateRule,
    SystemStatusRule,
)
from control_tower.kit.canonical import canonical_json, sha256_hex
from control_tower.kit.errors import Conflict, NotFound
from control_tower.models.alerts import NotifyAction

log = structlog.get_logger(__name__)

# The actor of alert events CT writes itself (firing, notifying, resolving).
CT_ACTOR = "ct"
SEND_BATCH = 200
_ACTIONS: dict[str, NotifyAction] = {
    "firing": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """The identity of an alert: its rule and labels (32 hex characters; PagerDuty's
    dedup_key)."""
    return sha256_hex(canonical_json({"rule": rule, "labels": dict(labels)}))[:32]


@dataclass(frozen=True)
class Condition:
    """A rule's condition found holding for one set of labels."""

    rule: AnyAlertRule
    labels: Mapping[str, str]
    since: datetime  # when it began to hold: a new alert's started_at
    value: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # template fields beyond labels

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.labels)

    def summary(self) -> str:
        values = {
            "rule": self.rule.name,
            "severity": self.rule.severity,
            "value": _number(self.value),
            "threshold": _number(threshold(self.rule)),
            **self.labels,
            **self.fields,
        }
        return self.rule.summary_template().format_map(_Fields(values))[:1024]


class _Fields(dict[str, Any]):
    """Template fields; one an alert lacks (a label its events did not carry) reads `-`."""

    def __missing__(self, key: str) -> str:
        return "-"


def _number(value: float | None) -> Any:
    if value is None:
        return "-"
    return int(value) if float(value).is_integer() else round(value, 2)


def threshold(rule: AnyAlertRule) -> float | None:
    if isinstance(rule, EventRateRule | DlqDepthRule):
        return rule.more_than
    if isinstance(rule, SystemStatusRule):
        return rule.for_minutes
    if isinstance(rule, BackupMissedRule):
        return rule.hours
    return None


def rule_named(catalog: Catalog, name: str) -> AnyAlertRule | None:
    return next((rule for rule in catalog.alert_rules if rule.name == name), None)


def raise_alert(conn: Connection, condition: Condition, now: datetime) -> int:
    """Fire an alert for the condition, or refresh the open one's value and summary (which
    notifies nobody); the alert's id."""
    rule, print_ = condition.rule, condition.fingerprint
    summary = condition.summary()
    existing = repository.open_alert(conn, print_)
    if existing is None:
        due = condition.since + rule.group_wait
        previous = repository.last_notified_at(conn, print_)
        if previous is not None:
            due = max(due, previous + rule.group_interval)
        alert_id = repository.insert_open_alert(
            conn,
            {
                "rule": rule.name,
                "kind": rule.kind,
                "fingerprint": print_,
                "labels": dict(condition.labels),
                "state": "firing",
                "severity": rule.severity,
                "summary": summary,
                "value": condition.value,
                "started_at": condition.since,
                "next_notify_at": due,
                "updated_at": now,
            },
        )
        if alert_id is not None:
            repository.add_event(
                conn,
                alert_id,
                at=condition.since,
                kind="fired",
                actor=CT_ACTOR,
                details={"value": condition.value, "summary": summary},
            )
            log.info("alert_fired", alert_id=alert_id, rule=rule.name, labels=condition.labels)
            return alert_id
        existing = repository.open_alert(conn, print_)  # another router fired it meanwhile
        if existing is None:
            raise RuntimeError(f"alert {print_} neither inserted nor open")
    if existing.value != condition.value or existing.summary != summary:
        repository.update_alert(
            conn, existing.id, {"value": condition.value, "summary": summary, "updated_at": now}
        )
    return int(existing.id)


def resolve_alert(
    conn: Connection, catalog: Catalog, alert: Row[Any], *, at: datetime, reason: str
) -> bool:
    """Resolve an open alert; the `resolve` notification is due if it had paged."""
    rule = rule_named(catalog, alert.rule)
    paged = alert.notified_action in ("trigger", "acknowledge")
    due: datetime | None = None
    if paged and rule is not None and rule.send_resolved:
        due = max(at, alert.last_notified_at + rule.group_interval)
    done = repository.update_alert(
        conn,
        alert.id,
        {
            "state": "resolved",
            "open_fingerprint": None,
            "resolved_at": at,
            "next_notify_at": due,
            "updated_at": at,
        },
        state=alert.state,
    )
    if done:
        repository.add_event(
            conn, alert.id, at=at, kind="resolved", actor=CT_ACTOR, details={"reason": reason}
        )
        log.info("alert_resolved", alert_id=alert.id, rule=alert.rule, reason=reason)
    return done


def acknowledge_alert(
    conn: Connection, alert_id: int, *, actor: str, comment: str | None, now: datetime
) -> Row[Any]:
    """Acknowledge a firing alert: no more reminders; `acknowledge` is due at once if it
    paged. 404 for an unknown alert, 409 for one acknowledged or resolved already."""
    alert = repository.get_alert(conn, alert_id, lock=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.state == "resolved":
        raise Conflict(f"alert {alert_id} is resolved", code="alert_resolved")
    if alert.state == "acknowledged":
        raise Conflict(
            f"alert {alert_id} was acknowledged by {alert.acknowledged_by}",
            code="already_acknowledged",
        )
    repository.update_alert(
        conn,
        alert_id,
        {
            "state": "acknowledged",
            "acknowledged_at": now,
            "acknowledged_by": actor,
            "next_notify_at": now if alert.notified_action == "trigger" else None,
            "updated_at": now,
        },
    )
    repository.add_event(
        conn, alert_id, at=now, kind="acknowledged", actor=actor, details={"comment": comment}
    )
    updated = repository.get_alert(conn, alert_id)
    assert updated is not None
    return updated


def silenced_by(silences: Sequence[Row[Any]], rule: str, labels: Mapping[str, Any]) -> list[int]:
    """The ids of the silences (active ones, as given) that match an alert."""
    system = labels.get("system")
    return [
        int(s.id)
        for s in silences
        if (s.rule is None or s.rule == rule) and (s.system is None or s.system == system)
    ]


def send_due(
    conn: Connection, catalog: Catalog, now: datetime, ids: Sequence[int] | None = None
) -> int:
    """Queue every notification due at `now` (of the alerts `ids`, or all); how many."""
    due = repository.due_alerts(conn, now, ids, SEND_BATCH)
    if not due:
        return 0
    silences = repository.active_silences(conn, now)
    sent = 0
    for alert in due:
        rule = rule_named(catalog, alert.rule)
        action = _ACTIONS[alert.state]
        if rule is None:  # the rule left the catalogue: nobody to tell
            repository.update_alert(conn, alert.id, {"next_notify_at": None})
            continue
        if action == "trigger" and silenced_by(silences, alert.rule, alert.labels):
            continue  # held until the silence ends
        sent += _send(conn, catalog, rule, alert, action, now)
    return sent


def _send(
    conn: Connection,
    catalog: Catalog,
    rule: AnyAlertRule,
    alert: Row[Any],
    action: NotifyAction,
    now: datetime,
) -> int:
    seq = alert.notify_count + 1
    advanced = repository.update_alert(
        conn,
        alert.id,
        {
            "notify_count": seq,
            "notified_action": action,
            "last_notified_at": now,
            "next_notify_at": now + rule.repeat_interval if action == "trigger" else None,
        },
        notify_count=alert.notify_count,
    )
    if not advanced:  # another pass sent this one
        return 0
    queued, skipped = deliver(conn, catalog, rule, alert, action, seq=seq, now=now)
    repository.add_event(
        conn,
        alert.id,
        at=now,
        kind="notified",
        actor=CT_ACTOR,
        details={"action": action, "seq": seq, "channels": queued, "skipped": skipped},
    )
    log.info("alert_notified", alert_id=alert.id, action=action, seq=seq, channels=queued)
    return 1
