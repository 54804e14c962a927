"""What the reports read instead of the events: small counters the router keeps per UTC hour
(an event counts in the hour of its time: `occurred_at`, or `received_at` if that is earlier,
as health counts it), the few CI failures of a day, ingest's refusals, and the archive's index.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from control_tower.models.base import UTCDateTime, metadata

__all__ = [
    "ci_failures",
    "event_counts",
    "fn_errors",
    "ingest_refusals",
    "invoice_totals",
    "payment_transitions",
    "report_archive",
]

# Events per hour, type and source: the digest's "new events" and the trend's unseen types.
event_counts = Table(
    "event_counts",
    metadata,
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("type", String(128), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("events", Integer, nullable=False),
)

# `backend.fn.error` per hour, function and severity.
fn_errors = Table(
    "fn_errors",
    metadata,
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("fn_name", String(128), primary_key=True),
    Column("severity", String(16), primary_key=True),
    Column("errors", Integer, nullable=False),
)

# `finance.payment.webhook` per hour and transition (status before → after).
payment_transitions = Table(
    "payment_transitions",
    metadata,
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("status_before", String(64), primary_key=True),
    Column("status_after", String(64), primary_key=True),
    Column("payments", Integer, nullable=False),
)

# `finance.invoice.generated` per hour and currency, with the sum of their totals in minor
# units (64-bit: a sum of 64-bit amounts; never a float).
invoice_totals = Table(
    "invoice_totals",
    metadata,
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("currency", String(8), primary_key=True),
    Column("invoices", Integer, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
)

# Each `ci.workflow.failed`, with what the digest links to (few: read by time range).
ci_failures = Table(
    "ci_failures",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("repo", String(200), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("job", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Index("ix_ci_failures_at", "at"),
    Index("ix_ci_failures_repo_at", "repo", "at"),
)

# Events ingest refused, per hour (of receipt), producer, source, reason and the type they
# claimed: the weekly trend's taxonomy drift. Written by ingest (ingest/refusals.py).
ingest_refusals = Table(
    "ingest_refusals",
    metadata,
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("producer", String(128), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("event_type", String(128), primary_key=True),
    Column("refused", Integer, nullable=False),
)

# The archive's index: one row per report made, with its bytes, so any replica serves the
# same bytes and a regeneration that differs is told apart by its checksum (write-once).
report_archive = Table(
    "report_archive",
    metadata,
    Column("kind", String(16), primary_key=True),  # a ReportKind: daily | weekly
    Column("period", String(16), primary_key=True),  # 2026-11-26 | 2026-W48
    Column("created_at", UTCDateTime(), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("json_sha256", String(64), nullable=False),
    Column("md_sha256", String(64), nullable=False),
    Column("json_body", Text, nullable=False),
    Column("md_body", Text, nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
)
