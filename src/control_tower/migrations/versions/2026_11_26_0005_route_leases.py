"""route leases: an index on the outbox rows a router holds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

A router names its current batch by the lease token in `lease_owner`. Only leased rows carry
one, so a partial index keeps the lookup to the batch's own rows however long the outbox grows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_event_routes_lease_owner",
        "event_routes",
        ["lease_owner"],
        sqlite_where=sa.text("lease_owner IS NOT NULL"),
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_event_routes_lease_owner", table_name="event_routes")
