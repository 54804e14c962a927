"""SQL that reads events: keyset listing and lookups, each with its routing status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from control_tower.models import event_routes, events


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    source: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    conn: Connection, flt: EventFilter, limit: int, before_seq: int | None
) -> list[Row[Any]]:
    """Newest first by ingest sequence; `before_seq` is the keyset cursor."""
    return list(conn.execute(list_query(flt, limit, before_seq)))


def with_routing() -> Select[Any]:
    """Events with their routing job's status and attempts (the ingest status and attempt):
    the SELECT every reader of whole events starts from (`service.event_from_row`)."""
    return select(
        events, event_routes.c.status.label("route_status"),
        event_routes.c.attempts.label("route_attempts"),
    ).outerjoin(event_routes, event_routes.c.event_id == events.c.event_id)  # fmt: skip


def list_query(flt: EventFilter, limit: int, before_seq: int | None) -> Select[Any]:
    """The SELECT behind `list_events`, on its own so a test can EXPLAIN it."""
    query = with_routing()
    if flt.type:
        query = query.where(events.c.type == flt.type)
    if flt.source:
        query = query.where(events.c.source == flt.source)
    if flt.correlation_id:
        query = query.where(events.c.correlation_id == flt.correlation_id)
    if flt.since:
        query = query.where(events.c.occurred_at >= flt.since)
    if flt.until:
        query = query.where(events.c.occurred_at < flt.until)
    if before_seq is not None:
        query = query.where(events.c.seq < before_seq)
    return query.order_by(events.c.seq.desc()).limit(limit)


def get_event(conn: Connection, event_id: str) -> Row[Any] | None:
    return conn.execute(with_routing().where(events.c.event_id == event_id)).first()
