from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from control_tower.models.base import BigIntId, JsonType, UTCDateTime, metadata

# pending: waiting for its first attempt; failed: the last attempt failed and another is due
# at next_attempt_at; sent: delivered; dead: given up (attempts exhausted, or a refusal that a
# retry cannot fix).
NotificationStatus = Literal["pending", "sent", "failed", "dead"]
# success: delivered; retry: a failure worth retrying (timeout, 5xx, 429); failed: a refusal a
# retry cannot fix (400, SMTP 5xx); lost: the worker's lease expired during the attempt.
AttemptOutcome = Literal["success", "retry", "failed", "lost"]

# The delivery outbox: one row per (message, channel), written in the caller's transaction;
# delivery workers claim due rows with a lease and record each attempt.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("kind", String(32), nullable=False),  # the message's kind: alert, digest, …
    Column("idempotency_key", String(200), nullable=False),
    Column("message", JsonType, nullable=False),
    Column("status", String(16), nullable=False),  # a NotificationStatus
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    # The key is unique per channel: one message queued on several channels shares its key.
    UniqueConstraint("channel", "idempotency_key"),
    # Due rows for a worker's claim.
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_channel_id", "channel", "id"),
)

# One row per attempt, only ever inserted: what `GET /notifications` shows for each delivery,
# and what health reads to tell a channel that keeps failing.
notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("notification_id", BigIntId, ForeignKey("notifications.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # an AttemptOutcome
    Column("status_code", Integer, nullable=True),  # HTTP status or SMTP reply code
    Column("detail", Text, nullable=True),  # the answer, an SMTP reply, or the error
    Column("duration_ms", Integer, nullable=False),
    Column("worker", String(128), nullable=False),
    Index("ix_notification_attempts_notification_id_attempt", "notification_id", "attempt"),
    # Health reads the channels with attempts in the last day, then each one's latest attempts.
    Index("ix_notification_attempts_at", "at"),
    Index("ix_notification_attempts_channel_at", "channel", "at"),
)
