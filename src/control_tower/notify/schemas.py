"""What `GET /notifications` and `ct notifications list` show."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from control_tower.kit.common import UtcDatetime
from control_tower.models.notify import AttemptOutcome, NotificationStatus


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(title="DeliveryAttempt")

    attempt: int = Field(description="1 for the first attempt.")
    at: UtcDatetime
    outcome: AttemptOutcome
    status_code: int | None = Field(description="HTTP status or SMTP reply code.")
    detail: str | None = Field(description="The answer, the SMTP reply, or the error.")
    duration_ms: int
    worker: str


class Notification(BaseModel):
    model_config = ConfigDict(title="Notification")

    id: int
    channel: str
    kind: str = Field(description="The message's kind: alert, digest, weekly, test.")
    idempotency_key: str
    title: str
    severity: str
    status: NotificationStatus
    attempts: int
    next_attempt_at: UtcDatetime | None
    last_error: str | None
    created_at: UtcDatetime
    sent_at: UtcDatetime | None
    attempt_log: list[DeliveryAttempt] = Field(description="Every attempt, oldest first.")


class NotificationPage(BaseModel):
    model_config = ConfigDict(title="NotificationPage")

    items: list[Notification]
    next_cursor: str | None
