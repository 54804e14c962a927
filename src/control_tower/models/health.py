from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from control_tower.models.base import JsonType, UTCDateTime, metadata

# Intake-latency histogram bounds in seconds; one counter column per bound, the last is "more".
LATENCY_BOUNDS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600)
LATENCY_COLUMNS = [f"lat_le_{b}" for b in LATENCY_BOUNDS] + ["lat_more"]

# Per system, per hour (by occurred_at): counters the router keeps so health never scans events.
system_rollups = Table(
    "system_rollups",
    metadata,
    Column("system_id", String(32), primary_key=True),
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("events", Integer, nullable=False, server_default="0"),
    Column("errors", Integer, nullable=False, server_default="0"),
    Column("high_errors", Integer, nullable=False, server_default="0"),
    Column("heartbeats", Integer, nullable=False, server_default="0"),
    Column("runs_ok", Integer, nullable=False, server_default="0"),
    Column("runs_failed", Integer, nullable=False, server_default="0"),
    *(Column(name, Integer, nullable=False, server_default="0") for name in LATENCY_COLUMNS),
)

# The latest signals per system, and the status last recorded for it.
system_state = Table(
    "system_state",
    metadata,
    Column("system_id", String(32), primary_key=True),
    Column("last_heartbeat_at", UTCDateTime(), nullable=True),
    Column("last_heartbeat_event_id", String(128), nullable=True),
    Column("last_event_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False, server_default="unknown"),
    Column("reasons", JsonType, nullable=False),
    Column("status_since", UTCDateTime(), nullable=True),
)

# Evidence for reasons: a few event ids per system and kind (error, slow, run_failed).
health_evidence = Table(
    "health_evidence",
    metadata,
    Column("system_id", String(32), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Index("ix_health_evidence_system_id_kind_occurred_at", "system_id", "kind", "occurred_at"),
)

# Status history for the weekly trend.
system_status_changes = Table(
    "system_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system_id", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("reasons", JsonType, nullable=False),
    Index("ix_system_status_changes_system_id_at", "system_id", "at"),
)
