"""alerts and silences: alerts, alert_events (append-only), silences, alert_rate_buckets

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import BigIntId, JsonType, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("open_fingerprint", sa.String(64), nullable=True),
        sa.Column("labels", JsonType, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("notify_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("notified_action", sa.String(16), nullable=True),
        sa.Column("last_notified_at", UTCDateTime(), nullable=True),
        sa.Column("next_notify_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("open_fingerprint", name="uq_alerts_open_fingerprint"),
    )
    op.create_index("ix_alerts_state_id", "alerts", ["state", "id"])
    op.create_index("ix_alerts_fingerprint_id", "alerts", ["fingerprint", "id"])
    op.create_index("ix_alerts_next_notify_at", "alerts", ["next_notify_at"])

    op.create_table(
        "alert_events",
        sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("alert_id", BigIntId, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("details", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_alert_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_events_alert_id_alerts"
        ),
    )
    op.create_index("ix_alert_events_alert_id_seq", "alert_events", ["alert_id", "seq"])
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    _forbid_changes("alert_events")

    op.create_table(
        "silences",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("system", sa.String(32), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])

    op.create_table(
        "alert_rate_buckets",
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("bucket_at", UTCDateTime(), nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("rule", "fingerprint", "bucket_at", name="pk_alert_rate_buckets"),
    )


def _forbid_changes(table: str) -> None:
    """UPDATE and DELETE are refused by the database itself, as for run_transitions (0004)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    # ct_refuse_change() was created by revision 0001.
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ct_refuse_change()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ct_refuse_change()"
    )


def downgrade() -> None:
    for table in ("alert_rate_buckets", "silences", "alert_events", "alerts"):
        op.drop_table(table)
