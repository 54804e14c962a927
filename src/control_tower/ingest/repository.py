"""The idempotent insert: new events and their routing jobs, in the caller's transaction.

One cached SQLAlchemy Core statement per dialect inserts the rows whose `event_id` is new and
returns them: `ON CONFLICT (event_id) DO NOTHING`, which both stores speak (never SQLite's
`INSERT OR IGNORE`, which would also drop a row that breaks a NOT NULL constraint and so
acknowledge an event it did not store). SQLAlchemy's insertmanyvalues sends many rows per
statement on both stores. Each new event
gets its outbox row (`event_routes`) in the same transaction, so an acknowledged event is
always routed eventually.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from control_tower.events.schemas import IngestStatus
from control_tower.models import event_routes, events
from control_tower.models.events import EventRow

InsertKind = Literal["accepted", "duplicate", "conflict"]


class InsertOutcome(NamedTuple):
    event_id: str
    kind: InsertKind
    status: IngestStatus


_INSERT_NEW: dict[str, Insert] = {
    name: dialect.insert(events)
    .on_conflict_do_nothing(index_elements=[events.c.event_id])
    .returning(events.c.event_id, events.c.seq)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_QUEUE_ROUTING = insert(event_routes)
_STORED = select(events.c.event_id, events.c.payload_sha256, event_routes.c.status).outerjoin(
    event_routes, event_routes.c.event_id == events.c.event_id
)


def insert_events(conn: Connection, rows: Sequence[EventRow]) -> list[InsertOutcome]:
    """Insert the new events; tell each row apart as accepted, duplicate (the same content as
    the stored event or an earlier row) or conflict (the same `event_id`, other content)."""
    first: dict[str, EventRow] = {}
    for row in rows:
        first.setdefault(row["event_id"], row)
    inserted: dict[str, int] = {}
    if first:
        result = conn.execute(_INSERT_NEW[conn.dialect.name], list(first.values()))
        inserted = dict(result.all())
    if inserted:
        now = rows[0]["received_at"]
        conn.execute(
            _QUEUE_ROUTING,
            [
                {"event_id": event_id, "seq": seq, "status": "pending", "attempts": 0,
                 "available_at": now, "updated_at": now}
                for event_id, seq in inserted.items()
            ],
        )  # fmt: skip
    stored: dict[str, Any] = {}
    if missing := [event_id for event_id in first if event_id not in inserted]:
        stored = {
            r.event_id: r for r in conn.execute(_STORED.where(events.c.event_id.in_(missing)))
        }
    return _outcomes(rows, first, inserted, stored)


def _outcomes(
    rows: Sequence[EventRow],
    first: dict[str, EventRow],
    inserted: dict[str, int],
    stored: dict[str, Any],
) -> list[InsertOutcome]:
    outcomes: list[InsertOutcome] = []
    answered: set[str] = set()  # the row that inserted an id is answered first, and once
    for row in rows:
        event_id = row["event_id"]
        if event_id in inserted and event_id not in answered and first[event_id] is row:
            answered.add(event_id)
            outcomes.append(InsertOutcome(event_id, "accepted", IngestStatus.accepted))
            continue
        if event_id in stored:
            known_hash = stored[event_id].payload_sha256
            status = IngestStatus.of_route(stored[event_id].status)
        else:  # a repeat of an earlier row of this commit
            known_hash, status = first[event_id]["payload_sha256"], IngestStatus.accepted
        kind: InsertKind = "duplicate" if known_hash == row["payload_sha256"] else "conflict"
        outcomes.append(InsertOutcome(event_id, kind, status))
    return outcomes
