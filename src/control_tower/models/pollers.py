from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from control_tower.models.base import UTCDateTime, metadata

# The last outcome of each poller, and how long it must keep quiet (rate limits).
poller_state = Table(
    "poller_state",
    metadata,
    Column("poller", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # a PollStatus
    Column("detail", Text, nullable=False, server_default=""),
    Column("last_polled_at", UTCDateTime(), nullable=False),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("backoff_until", UTCDateTime(), nullable=True),
)

# ETags of conditional GETs, per poller and request URL (If-None-Match on the next poll).
poller_etags = Table(
    "poller_etags",
    metadata,
    Column("poller", String(64), primary_key=True),
    Column("url", String(1024), primary_key=True),
    Column("etag", String(256), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# GitHub webhook deliveries seen (X-GitHub-Delivery), so a re-delivery is answered as a duplicate.
github_deliveries = Table(
    "github_deliveries",
    metadata,
    Column("delivery_id", String(128), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)
