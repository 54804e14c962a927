"""runs: runs, run_transitions and run_notes (the last two append-only)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import BigIntId, JsonType, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY = ("run_transitions", "run_notes")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(128), nullable=False),
        sa.Column("initiator", sa.String(128), nullable=False),
        sa.Column("inputs", JsonType, nullable=False),
        sa.Column("redactions", JsonType, nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("metrics", JsonType, nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_runs"),
        sa.UniqueConstraint("run_id", name="uq_runs_run_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_runs_idempotency_key"),
    )
    op.create_index("ix_runs_status_next_attempt_at", "runs", ["status", "next_attempt_at"])
    op.create_index(
        "ix_runs_trigger_inputs_sha256_created_at",
        "runs",
        ["trigger", "inputs_sha256", "created_at"],
    )
    op.create_index("ix_runs_trigger_created_at", "runs", ["trigger", "created_at"])

    op.create_table(
        "run_transitions",
        sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("details", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_run_transitions"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_transitions_run_id_runs"),
    )
    op.create_index("ix_run_transitions_run_id_seq", "run_transitions", ["run_id", "seq"])

    op.create_table(
        "run_notes",
        sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("redactions", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_run_notes"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_notes_run_id_runs"),
    )
    op.create_index("ix_run_notes_run_id_seq", "run_notes", ["run_id", "seq"])

    for table in APPEND_ONLY:
        _forbid_changes(table)


def _forbid_changes(table: str) -> None:
    """UPDATE and DELETE are refused by the database itself, as for audit_log (0001)."""
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
    for table in ("run_notes", "run_transitions", "runs"):
        op.drop_table(table)
