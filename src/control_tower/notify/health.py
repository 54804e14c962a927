"""Delivery's health objective: a channel that keeps failing turns CT's own system amber.

Registered with health's extra objectives (health/objectives.py) by composition. A channel is
failing when, within the last 24 hours, its last 3 attempts all failed, or when one of its
notifications went dead in the last hour and the channel has delivered nothing since. One
success clears the first; the second clears after the hour, or at once on a later success.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.catalog.model import System
from control_tower.health.schemas import HealthStatus, Reason
from control_tower.notify.repository import ChannelRecord, channel_records

CT_SYSTEM_ID = "ct"
OBJECTIVE = "notification_delivery"
FAILED_IN_A_ROW = 3
WINDOW = timedelta(hours=24)
DEAD_WINDOW = timedelta(hours=1)
THRESHOLD = (
    f"amber after {FAILED_IN_A_ROW} failed attempts in a row, or a notification dead in the "
    "last hour with nothing delivered since"
)


def delivery_reasons(conn: Connection, system: System, now: datetime) -> list[Reason]:
    """One amber reason per failing channel; one green reason when channels delivered in the
    window and none is failing; nothing for other systems or when nothing was sent."""
    if system.id != CT_SYSTEM_ID:
        return []
    records = channel_records(conn, now - WINDOW, now - DEAD_WINDOW, FAILED_IN_A_ROW)
    failing = [r for r in records if _failing_because(r)]
    if failing:
        return [_amber(r) for r in failing]
    if not records:
        return []
    return [
        Reason(
            objective=OBJECTIVE,
            status=HealthStatus.green,
            measured={"channels": [r.channel for r in records]},
            threshold=THRESHOLD,
            window="24 h",
            message=f"{len(records)} channel(s) delivering",
        )
    ]


def _failing_because(record: ChannelRecord) -> str | None:
    recent = record.recent_outcomes
    if len(recent) == FAILED_IN_A_ROW and "success" not in recent:
        return f"its last {FAILED_IN_A_ROW} delivery attempts failed"
    dead_at = record.last_dead_at
    if dead_at is not None and (record.last_success_at is None or record.last_success_at < dead_at):
        return f"a notification went dead at {dead_at.isoformat()} and nothing was delivered since"
    return None


def _amber(record: ChannelRecord) -> Reason:
    because = _failing_because(record)
    return Reason(
        objective=OBJECTIVE,
        status=HealthStatus.amber,
        measured={
            "channel": record.channel,
            "recent_outcomes": record.recent_outcomes,
            "last_error": record.last_detail,
            "last_success_at": record.last_success_at.isoformat()
            if record.last_success_at
            else None,
        },
        threshold=THRESHOLD,
        window="24 h",
        message=f"channel {record.channel!r} is failing: {because}"
        + (f" (last: {record.last_detail})" if record.last_detail else ""),
    )
