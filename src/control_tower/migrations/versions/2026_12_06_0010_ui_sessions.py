"""ui sessions: the UI's cookie holds a server-side session id, not the API token

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

The cookie used to carry the raw bearer token, which signing out could not take back. A
session row is keyed by the sha256 of the session id the cookie holds; signing out revokes
it, and a revoked or expired token ends the sessions opened with it (docs/operations.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("csrf_secret", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("session_hash", name="pk_ui_sessions"),
    )
    op.create_index("ix_ui_sessions_expires_at", "ui_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ui_sessions_expires_at", table_name="ui_sessions")
    op.drop_table("ui_sessions")
