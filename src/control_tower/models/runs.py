from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
)

from control_tower.models.base import BigIntId, JsonType, UTCDateTime, metadata

# A run's current state; its history is in run_transitions (append-only).
runs = Table(
    "runs",
    metadata,
    # seq orders runs (newest first) and makes keyset pages stable.
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("trigger", String(128), nullable=False),
    Column("initiator", String(128), nullable=False),
    Column("inputs", JsonType, nullable=False),  # redacted
    Column("redactions", JsonType, nullable=False),
    # sha256 of the canonical inputs before redaction: tells a repeat from a different request.
    Column("inputs_sha256", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("metrics", JsonType, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Index("ix_runs_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_runs_trigger_inputs_sha256_created_at", "trigger", "inputs_sha256", "created_at"),
    Index("ix_runs_trigger_created_at", "trigger", "created_at"),
)

# Append-only: UPDATE and DELETE are refused by database triggers (migration 0004).
run_transitions = Table(
    "run_transitions",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id"), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", String(500), nullable=False, server_default=""),
    Column("details", JsonType, nullable=False),
    Index("ix_run_transitions_run_id_seq", "run_id", "seq"),
)

# Append-only: notes are added, never edited.
run_notes = Table(
    "run_notes",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("author", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("redactions", JsonType, nullable=False),
    Index("ix_run_notes_run_id_seq", "run_id", "seq"),
)
