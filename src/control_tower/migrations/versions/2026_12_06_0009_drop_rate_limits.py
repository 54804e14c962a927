"""rate limits are per replica, in memory: the shared `rate_limits` table goes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A shared budget in PostgreSQL cost a database round trip on every request; limits are now kept
per process (docs/operations.md). The table held only throw-away counters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("rate_limits")


def downgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("tat", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_limits"),
    )
