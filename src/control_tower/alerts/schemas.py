"""What the alerts API and CLI answer and read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from control_tower.kit.common import UtcDatetime
from control_tower.kit.durations import DURATION_PATTERN

AlertStateName = Literal["firing", "acknowledged", "resolved"]
SilenceState = Literal["pending", "active", "expired", "deleted"]


class Alert(BaseModel):
    model_config = ConfigDict(title="Alert")

    id: int
    rule: str
    kind: str = Field(description="The rule's kind: event_rate, system_status, dlq_depth, …")
    fingerprint: str = Field(description="Rule + labels; PagerDuty's dedup_key.")
    labels: dict[str, str]
    state: AlertStateName
    severity: str
    summary: str
    value: float | None = Field(description="What the rule measured (count, depth, minutes).")
    runbook_url: str | None = None
    started_at: UtcDatetime
    acknowledged_at: UtcDatetime | None = None
    acknowledged_by: str | None = None
    resolved_at: UtcDatetime | None = None
    notify_count: int = Field(description="Notifications queued so far.")
    last_notified_at: UtcDatetime | None = None
    next_notify_at: UtcDatetime | None = Field(
        default=None, description="When the next notification is due; null when none is."
    )
    silenced_by: list[int] = Field(
        default_factory=list, description="Active silences that hold its notifications."
    )


class AlertEvent(BaseModel):
    model_config = ConfigDict(title="AlertEvent")

    at: UtcDatetime
    kind: str = Field(description="fired, notified, acknowledged or resolved.")
    actor: str
    details: dict[str, Any]


class AlertDetail(Alert):
    model_config = ConfigDict(title="AlertDetail")

    events: list[AlertEvent] = Field(description="Its history, oldest first.")


class AlertPage(BaseModel):
    model_config = ConfigDict(title="AlertPage")

    items: list[Alert]
    next_cursor: str | None


class AckIn(BaseModel):
    model_config = ConfigDict(title="AckIn", extra="forbid")

    comment: str | None = Field(default=None, max_length=1000)


class SilenceIn(BaseModel):
    """Matchers (at least one), an end (`ends_at` or `duration`) and a comment."""

    model_config = ConfigDict(title="SilenceIn", extra="forbid")

    rule: str | None = Field(default=None, min_length=1, max_length=64)
    system: str | None = Field(default=None, min_length=1, max_length=32)
    starts_at: UtcDatetime | None = Field(default=None, description="Default: now.")
    ends_at: UtcDatetime | None = None
    duration: str | None = Field(
        default=None, pattern=DURATION_PATTERN, description="From starts_at: 30m, 2h, 1d…"
    )
    comment: str = Field(min_length=1, max_length=1000)


class Silence(BaseModel):
    model_config = ConfigDict(title="Silence")

    id: int
    rule: str | None
    system: str | None
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    state: SilenceState
    created_by: str
    comment: str
    created_at: UtcDatetime
    deleted_at: UtcDatetime | None = None
    deleted_by: str | None = None


class SilenceList(BaseModel):
    model_config = ConfigDict(title="SilenceList")

    items: list[Silence]
