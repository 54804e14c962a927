"""calendar schedules: a job's schedule is stored as text, not as an interval

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Jobs can run daily or weekly at a wall-clock time in a zone, which no `interval_seconds` can
hold. The row keeps the schedule's description ("every 60 s", "daily at 08:00 Europe/London")
for `ct jobs list`, and `last_late` says whether the last slot was a missed one run by catch-up.
Existing rows are interval jobs: their description is written from the interval.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scheduled_jobs", sa.Column("schedule", sa.String(128), nullable=True))
    op.add_column("scheduled_jobs", sa.Column("last_late", sa.Boolean(), nullable=True))
    # `||` joins text on both stores; the cast keeps PostgreSQL from guessing the operand types.
    op.execute(
        "UPDATE scheduled_jobs SET schedule = "
        "'every ' || CAST(interval_seconds AS VARCHAR(20)) || ' s'"
    )
    # SQLite cannot ALTER a column's nullability: batch mode copies the (small) table there,
    # PostgreSQL alters it in place.
    with op.batch_alter_table("scheduled_jobs") as batch:
        batch.alter_column("schedule", existing_type=sa.String(128), nullable=False)
        batch.drop_column("interval_seconds")


def downgrade() -> None:
    # Calendar jobs have no interval: their rows go, and the older code would not run them.
    op.execute("DELETE FROM scheduled_jobs WHERE schedule NOT LIKE 'every % s'")
    op.add_column("scheduled_jobs", sa.Column("interval_seconds", sa.Integer(), nullable=True))
    # "every 60 s" → 60: the digits between "every " (6 characters) and " s" (2).
    op.execute(
        "UPDATE scheduled_jobs SET interval_seconds = "
        "CAST(SUBSTR(schedule, 7, LENGTH(schedule) - 8) AS INTEGER)"
    )
    with op.batch_alter_table("scheduled_jobs") as batch:
        batch.alter_column("interval_seconds", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("last_late")
        batch.drop_column("schedule")
