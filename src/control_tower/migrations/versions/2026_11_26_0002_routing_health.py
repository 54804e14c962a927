"""routing outbox, correlations, health rollups, state, evidence and status history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import BigIntId, JsonType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LATENCY_COLUMNS = [f"lat_le_{b}" for b in (10, 30, 60, 120, 300, 600, 900, 1800, 3600)] + [
    "lat_more"
]


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "event_routes",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("seq", BigIntId, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _counter("attempts"),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_event_routes"),
    )
    op.create_index(
        "ix_event_routes_status_available_at", "event_routes", ["status", "available_at"]
    )
    op.create_table(
        "correlations",
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("last_event_id", sa.String(128), nullable=False),
        sa.Column("last_type", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("correlation_id", name="pk_correlations"),
    )
    op.create_table(
        "system_rollups",
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        *(
            _counter(name)
            for name in (
                "events",
                "errors",
                "high_errors",
                "heartbeats",
                "runs_ok",
                "runs_failed",
                *LATENCY_COLUMNS,
            )
        ),
        sa.PrimaryKeyConstraint("system_id", "bucket_start", name="pk_system_rollups"),
    )
    op.create_table(
        "system_state",
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("last_heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("last_heartbeat_event_id", sa.String(128), nullable=True),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="unknown"),
        sa.Column("reasons", JsonType, nullable=False),
        sa.Column("status_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("system_id", name="pk_system_state"),
    )
    op.create_table(
        "health_evidence",
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "kind", "event_id", name="pk_health_evidence"),
    )
    op.create_index(
        "ix_health_evidence_system_id_kind_occurred_at",
        "health_evidence",
        ["system_id", "kind", "occurred_at"],
    )
    op.create_table(
        "system_status_changes",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reasons", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_system_status_changes"),
    )
    op.create_index(
        "ix_system_status_changes_system_id_at", "system_status_changes", ["system_id", "at"]
    )
    # Events stored before this revision are routed like new ones.
    op.execute(
        "INSERT INTO event_routes (event_id, seq, status, attempts, available_at, updated_at) "
        "SELECT event_id, seq, 'pending', 0, received_at, received_at FROM events"
    )


def downgrade() -> None:
    for table in (
        "system_status_changes",
        "health_evidence",
        "system_state",
        "system_rollups",
        "correlations",
        "event_routes",
    ):
        op.drop_table(table)
