"""the reports archive's index, the rollups reports read, and ingest's refusals

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The router keeps the rollups from now on. The events of the last BACKFILL_DAYS already routed
are folded in here, so the first digest and weekly trend after the upgrade (the jobs make only
the current slot's when they first run) count them; `ct rebuild` counts older ones too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from control_tower.models.base import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 35  # the last complete week and the one before it, with room to spare
BACKFILL_BATCH = 5000


def _hourly(name: str, keys: list[sa.Column[str]], *counters: sa.Column[int]) -> None:
    op.create_table(
        name,
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        *keys,
        *counters,
        sa.PrimaryKeyConstraint("bucket_start", *(k.name for k in keys), name=f"pk_{name}"),
    )


def _text(name: str, width: int) -> sa.Column[str]:
    return sa.Column(name, sa.String(width), nullable=False)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False)


def upgrade() -> None:
    _hourly("event_counts", [_text("type", 128), _text("source", 32)], _count("events"))
    _hourly("fn_errors", [_text("fn_name", 128), _text("severity", 16)], _count("errors"))
    _hourly("payment_transitions", [_text("status_before", 64), _text("status_after", 64)],
            _count("payments"))  # fmt: skip
    _hourly("invoice_totals", [_text("currency", 8)], _count("invoices"),
            sa.Column("total_minor", sa.BigInteger, nullable=False))  # fmt: skip
    _hourly("ingest_refusals",
            [_text("producer", 128), _text("source", 32), _text("reason", 32),
             _text("event_type", 128)], _count("refused"))  # fmt: skip
    op.create_table(
        "ci_failures",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        _text("repo", 200),
        _text("run_id", 64),
        _text("job", 200),
        sa.Column("url", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_ci_failures"),
    )
    op.create_index("ix_ci_failures_at", "ci_failures", ["at"])
    op.create_index("ix_ci_failures_repo_at", "ci_failures", ["repo", "at"])
    op.create_table(
        "report_archive",
        _text("kind", 16),
        _text("period", 16),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        _text("json_sha256", 64),
        _text("md_sha256", 64),
        sa.Column("json_body", sa.Text, nullable=False),
        sa.Column("md_body", sa.Text, nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "period", name="pk_report_archive"),
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Fold the recently routed events into the new rollups, as the router would have."""
    # The code the router runs, so the counts are the ones it would have kept.
    from control_tower.models import event_routes, events
    from control_tower.reports.rollups import plan_rows

    since = datetime.now(UTC) - timedelta(days=BACKFILL_DAYS)
    columns = [events.c[n] for n in ("seq", "event_id", "type", "source", "occurred_at",
                                     "received_at", "payload")]  # fmt: skip
    last = 0
    while True:
        batch = conn.execute(
            sa.select(*columns)
            .join(event_routes, event_routes.c.event_id == events.c.event_id)
            .where(events.c.occurred_at >= since, event_routes.c.status == "routed",
                   events.c.seq > last)
            .order_by(events.c.seq)
            .limit(BACKFILL_BATCH)
        ).mappings().all()  # fmt: skip
        if not batch:
            return
        plan_rows(batch).apply(conn)
        last = batch[-1]["seq"]


def downgrade() -> None:
    for table in ("report_archive", "ingest_refusals", "invoice_totals", "payment_transitions",
                  "fn_errors", "event_counts"):  # fmt: skip
        op.drop_table(table)
    op.drop_index("ix_ci_failures_repo_at", table_name="ci_failures")
    op.drop_index("ix_ci_failures_at", table_name="ci_failures")
    op.drop_table("ci_failures")
