"""identity: staff users (Firebase sign-in) and rotated tokens' overlap

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

`staff_users` holds what CT decides about a staff email (`ct users grant|revoke|signout-
everywhere`); `token_predecessors` keeps a rotated token and signing secret working until the
overlap given to `ct token rotate --overlap` ends (docs/auth.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email", name="pk_staff_users"),
    )
    op.create_table(
        "token_predecessors",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("rotated_at", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_token_predecessors"),
    )
    op.create_index("ix_token_predecessors_name", "token_predecessors", ["name"])


def downgrade() -> None:
    op.drop_index("ix_token_predecessors_name", table_name="token_predecessors")
    op.drop_table("token_predecessors")
    op.drop_table("staff_users")
