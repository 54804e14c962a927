"""an event's ingest status and attempt come from its routing job

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

`events.ingest_status` and `events.ingest_attempt` repeated what `event_routes` holds (status,
attempts), and the router rewrote every event row to keep them in step: on PostgreSQL a new
version of the whole row (payload included), ≈ a quarter of the database's work per routed
event. Reads now take both from `event_routes`; the columns go.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN on both stores (SQLite ≥ 3.35): no table copy.
    op.execute("ALTER TABLE events DROP COLUMN ingest_status")
    op.execute("ALTER TABLE events DROP COLUMN ingest_attempt")


def downgrade() -> None:
    op.add_column(
        "events",
        sa.Column("ingest_attempt", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column(
        "events",
        sa.Column("ingest_status", sa.String(16), nullable=False, server_default="accepted"),
    )
    op.execute(
        "UPDATE events SET "
        "ingest_status = COALESCE((SELECT CASE r.status WHEN 'pending' THEN 'accepted' "
        "ELSE r.status END FROM event_routes r WHERE r.event_id = events.event_id), 'accepted'), "
        "ingest_attempt = COALESCE((SELECT CASE WHEN r.attempts > 1 THEN r.attempts ELSE 1 END "
        "FROM event_routes r WHERE r.event_id = events.event_id), 1)"
    )
