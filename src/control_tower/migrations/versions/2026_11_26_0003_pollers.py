"""pollers: scheduled jobs, poller state, ETags, GitHub webhook deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("last_slot_at", UTCDateTime(), nullable=True),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name="pk_scheduled_jobs"),
    )
    op.create_table(
        "poller_state",
        sa.Column("poller", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("last_polled_at", UTCDateTime(), nullable=False),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("backoff_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("poller", name="pk_poller_state"),
    )
    op.create_table(
        "poller_etags",
        sa.Column("poller", sa.String(64), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("etag", sa.String(256), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("poller", "url", name="pk_poller_etags"),
    )
    op.create_table(
        "github_deliveries",
        sa.Column("delivery_id", sa.String(128), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_github_deliveries"),
    )


def downgrade() -> None:
    for table in ("github_deliveries", "poller_etags", "poller_state", "scheduled_jobs"):
        op.drop_table(table)
