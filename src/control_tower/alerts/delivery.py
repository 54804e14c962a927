"""An alert notification as notify's `Message`, queued on the rule's channels.

The summary and the runbook link travel with every notification; PagerDuty gets the alert's
fingerprint as `dedup_key` and `trigger`, `acknowledge` or `resolve` as its action.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Row

from control_tower.catalog import Catalog
from control_tower.catalog.alert_rules import AnyAlertRule
from control_tower.models.alerts import NotifyAction
from control_tower.notify.service import Link, Message, enqueue, find_channel

log = structlog.get_logger(__name__)

_HEADINGS: dict[NotifyAction, str] = {
    "trigger": "FIRING",
    "acknowledge": "ACKNOWLEDGED",
    "resolve": "RESOLVED",
}


def deliver(
    conn: Connection,
    catalog: Catalog,
    rule: AnyAlertRule,
    alert: Row[Any],
    action: NotifyAction,
    *,
    seq: int,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Queue notification `seq` of `alert` on each of the rule's channels, keyed
    `alert-<id>-<seq>`; the channels queued and those skipped (not in the catalogue)."""
    message = build_message(rule, alert, action, seq=seq)
    key = f"alert-{alert.id}-{seq}"
    queued: list[str] = []
    skipped: list[str] = []
    for name in rule.channels:
        if find_channel(catalog, name) is None:
            # Only a catalogue without a `channels` section gets here: with one, the rules'
            # channels are checked when it loads.
            skipped.append(name)
            log.warning("alert_channel_missing", alert_id=alert.id, channel=name)
            continue
        enqueue(conn, catalog, name, message, now=now, key=key)
        queued.append(name)
    return queued, skipped


def build_message(
    rule: AnyAlertRule, alert: Row[Any], action: NotifyAction, *, seq: int
) -> Message:
    heading = _HEADINGS[action]
    if action == "trigger" and seq > 1:
        heading += " (reminder)"
    labels = dict(alert.labels)
    when = {
        "trigger": alert.started_at,
        "acknowledge": alert.acknowledged_at,
        "resolve": alert.resolved_at,
    }[action]
    return Message(
        kind="alert",
        title=f"[{heading}] {alert.summary}",
        text=_text(rule, alert, action, labels),
        severity=rule.severity,
        dedup_key=alert.fingerprint,
        action=action,
        links=(Link(rule.runbook_url, "Runbook"),) if rule.runbook_url else (),
        details={
            "alert_id": alert.id,
            "rule": rule.name,
            "kind": rule.kind,
            "labels": labels,
            "value": alert.value,
            "state": alert.state,
            "started_at": _iso(alert.started_at),
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": _iso(alert.resolved_at),
            "notification": seq,
        },
        component=labels.get("system"),
        group=rule.name,
        event_class=rule.kind,
        at=when,
    )


def _text(rule: AnyAlertRule, alert: Row[Any], action: NotifyAction, labels: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
    lines = [
        f"*{alert.summary}*",
        "",
        f"Rule `{rule.name}` ({rule.kind}), severity {rule.severity}; labels: {shown}.",
        f"Firing since {_iso(alert.started_at)}.",
    ]
    if alert.acknowledged_at is not None:
        lines.append(f"Acknowledged by {alert.acknowledged_by} at {_iso(alert.acknowledged_at)}.")
    if action == "resolve":
        lines.append(f"Resolved at {_iso(alert.resolved_at)}.")
    if rule.runbook_url:
        lines.append(f"Runbook: {rule.runbook_url}")
    if action == "trigger":
        lines += ["", f"Acknowledge: `ct alerts ack {alert.id}` or POST /alerts/{alert.id}/ack"]
    return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
