"""route claims in ingest order: the outbox indexed by (status, seq)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

A router claims the oldest due rows of one status. With (status, available_at) the database
found every due row and sorted them all to keep the first batch: with 100,000 events waiting,
a claim of 500 took 20 ms on PostgreSQL (an on-disk sort), twice as long as with 20,000, so
routing slowed down as its backlog grew. (status, seq) hands the rows over in order and the
claim stops after one batch; the DLQ and the status counts use it as they used the old one.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_event_routes_status_seq", "event_routes", ["status", "seq"])
    op.drop_index("ix_event_routes_status_available_at", table_name="event_routes")


def downgrade() -> None:
    op.create_index(
        "ix_event_routes_status_available_at", "event_routes", ["status", "available_at"]
    )
    op.drop_index("ix_event_routes_status_seq", table_name="event_routes")
