from __future__ import annotations

from typing import Literal

from sqlalchemy import Column, Index, Integer, String, Table, Text, text

from control_tower.models.base import BigIntId, UTCDateTime, metadata

RouteStatus = Literal["pending", "retrying", "routed", "dead"]

# The transactional outbox: one row per stored event, written in the same transaction as the
# event; routers claim rows with a lease and apply the event to the handlers exactly once.
event_routes = Table(
    "event_routes",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("seq", BigIntId, nullable=False),
    Column("status", String(16), nullable=False),  # a RouteStatus
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("available_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Due rows in ingest order: a router's claim walks it and stops after one batch.
    Index("ix_event_routes_status_seq", "status", "seq"),
    # A router's current batch, by its lease token (only leased rows have one).
    Index(
        "ix_event_routes_lease_owner",
        "lease_owner",
        sqlite_where=text("lease_owner IS NOT NULL"),
        postgresql_where=text("lease_owner IS NOT NULL"),
    ),
)

# How many events carried each correlation id (a run id, usually), kept by the router.
correlations = Table(
    "correlations",
    metadata,
    Column("correlation_id", String(128), primary_key=True),
    Column("events", Integer, nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
    Column("last_at", UTCDateTime(), nullable=False),
    Column("last_event_id", String(128), nullable=False),
    Column("last_type", String(128), nullable=False),
)
