from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Column, Index, String, Table

from control_tower.models.base import BigIntId, JsonType, UTCDateTime, metadata

events = Table(
    "events",
    metadata,
    # seq orders the stream (newest first) and makes keyset pages stable.
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("type", String(128), nullable=False),
    Column("source", String(32), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("correlation_id", String(128), nullable=True),
    Column("payload", JsonType, nullable=False),
    Column("redactions", JsonType, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("producer", String(128), nullable=False),
    Index("ix_events_type_seq", "type", "seq"),
    Index("ix_events_source_seq", "source", "seq"),
    Index("ix_events_correlation_id_seq", "correlation_id", "seq"),
    Index("ix_events_occurred_at", "occurred_at"),
)


class EventRow(TypedDict):
    """One row of `events` as ingest writes it (`seq` comes from the store)."""

    event_id: str
    type: str
    source: str
    occurred_at: datetime
    received_at: datetime
    correlation_id: str | None
    payload: dict[str, Any]
    redactions: list[str]
    payload_sha256: str
    producer: str
