"""Event use cases shared by the API, the CLI and the UI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row

from control_tower.events import repository
from control_tower.events.schemas import Event, EventPage, IngestInfo, IngestStatus
from control_tower.kit.errors import NotFound
from control_tower.kit.pagination import seq_page


def event_from_row(row: Row[Any]) -> Event:
    return Event(
        event_id=row.event_id,
        type=row.type,
        occurred_at=row.occurred_at,
        source=row.source,
        correlation_id=row.correlation_id,
        payload=row.payload,
        redactions=row.redactions,
        payload_sha256=row.payload_sha256,
        producer=row.producer,
        ingest=IngestInfo(
            received_at=row.received_at,
            # Failed attempts so far, counting the first delivery as attempt 1.
            attempt=max(1, row.route_attempts or 0),
            status=IngestStatus.of_route(row.route_status),
        ),
    )


def list_events(
    conn: Connection, flt: repository.EventFilter, limit: int, cursor: str | None
) -> EventPage:
    page, next_cursor = seq_page(
        lambda n, before: repository.list_events(conn, flt, n, before), limit, cursor
    )
    return EventPage(items=[event_from_row(r) for r in page], next_cursor=next_cursor)


def get_event(conn: Connection, event_id: str) -> Event:
    row = repository.get_event(conn, event_id)
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return event_from_row(row)
