"""the notification outbox (delivery attempts to channels)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

`notifications` is the delivery outbox, one row per (message, channel), queued in the
transaction of whatever caused it; `notification_attempts` records every attempt, only ever
inserted (docs/notifications.md). New tables only, so SQLite needs no batch mode.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import BigIntId, JsonType, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("message", JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "channel", "idempotency_key", name="uq_notifications_channel_idempotency_key"
        ),
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at",
        "notifications",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_notifications_channel_id", "notifications", ["channel", "id"])

    op.create_table(
        "notification_attempts",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("notification_id", BigIntId, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_attempts_notification_id_notifications",
        ),
    )
    op.create_index(
        "ix_notification_attempts_notification_id_attempt",
        "notification_attempts",
        ["notification_id", "attempt"],
    )
    op.create_index("ix_notification_attempts_at", "notification_attempts", ["at"])
    op.create_index(
        "ix_notification_attempts_channel_at", "notification_attempts", ["channel", "at"]
    )


def downgrade() -> None:
    op.drop_table("notification_attempts")
    op.drop_table("notifications")
