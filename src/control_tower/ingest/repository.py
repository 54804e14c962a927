"""The idempotent insert: new events and their routing jobs, in the caller's transaction.

One cached SQLAlchemy Core statement per dialect inserts the rows whose `event_id` is new and
returns them: `ON CONFLICT (event_id) DO NOTHING`, which both stores speak (never SQLite's
`INSERT OR IGNORE`, which would also drop a row that breaks a NOT NULL constraint and so
acknowledge an event it did not store). A commit's rows travel as one JSON document, which the
statement reads row by row (`json_each` on SQLite, `jsonb_to_recordset` on PostgreSQL). Each
new event gets its outbox row (`event_routes`) in the same transaction, so an acknowledged
event is always routed eventually.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, bindparam, select, text

from control_tower.events.schemas import IngestStatus
from control_tower.kit.json_text import dumps_text
from control_tower.models import event_routes, events
from control_tower.models.base import UTCDateTime, naive_utc_text
from control_tower.models.events import EventRow

InsertKind = Literal["accepted", "duplicate", "conflict"]


class InsertOutcome(NamedTuple):
    event_id: str
    kind: InsertKind
    status: IngestStatus


# `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
_SQLITE_INSERT_NEW = text(
    """
    INSERT INTO events (event_id, type, source, occurred_at, received_at, correlation_id,
                        payload, redactions, payload_sha256, producer)
    SELECT value ->> '$.event_id', value ->> '$.type', value ->> '$.source',
           value ->> '$.occurred_at', value ->> '$.received_at', value ->> '$.correlation_id',
           value -> '$.payload', value -> '$.redactions', value ->> '$.payload_sha256',
           value ->> '$.producer'
      FROM json_each(:rows) WHERE true
     ORDER BY key
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, seq
    """
)
_SQLITE_QUEUE_ROUTING = text(
    """
    INSERT INTO event_routes (event_id, seq, status, attempts, available_at, updated_at)
    SELECT event_id, seq, 'pending', 0, :now, :now
      FROM events WHERE event_id IN (SELECT value FROM json_each(:ids))
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
_PG_INSERT_NEW = text(
    """
    WITH inserted AS (
        INSERT INTO events (event_id, type, source, occurred_at, received_at, correlation_id,
                            payload, redactions, payload_sha256, producer)
        SELECT r.event_id, r.type, r.source, r.occurred_at, r.received_at, r.correlation_id,
               r.payload, r.redactions, r.payload_sha256, r.producer
          FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb)) AS (
                   event_id varchar, type varchar, source varchar, occurred_at timestamp,
                   received_at timestamp, correlation_id varchar, payload jsonb,
                   redactions jsonb, payload_sha256 varchar, producer varchar)
               ) WITH ORDINALITY AS r(event_id, type, source, occurred_at, received_at,
                                      correlation_id, payload, redactions, payload_sha256,
                                      producer, n)
         ORDER BY r.n
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id, seq
    ), queued AS (
        INSERT INTO event_routes (event_id, seq, status, attempts, available_at, updated_at)
        SELECT event_id, seq, 'pending', 0, :now, :now FROM inserted
    )
    SELECT event_id, seq FROM inserted
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
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
    if first and conn.dialect.name == "postgresql":
        inserted = _insert_postgresql(conn, list(first.values()))
    elif first:
        inserted = _insert_sqlite(conn, list(first.values()))
    stored: dict[str, Any] = {}
    if missing := [event_id for event_id in first if event_id not in inserted]:
        stored = {
            r.event_id: r for r in conn.execute(_STORED.where(events.c.event_id.in_(missing)))
        }
    return _outcomes(rows, first, inserted, stored)


def _document(rows: list[EventRow]) -> str:
    """The rows as the JSON document both statements read, times as the store keeps them."""
    received: dict[datetime, str] = {}  # a commit's rows share a few reception times
    for row in rows:
        if row["received_at"] not in received:
            received[row["received_at"]] = naive_utc_text(row["received_at"])
    return dumps_text(
        [
            dict(row, occurred_at=naive_utc_text(row["occurred_at"]),
                 received_at=received[row["received_at"]])
            for row in rows
        ]
    )  # fmt: skip


def _insert_sqlite(conn: Connection, rows: list[EventRow]) -> dict[str, int]:
    inserted: dict[str, int] = dict(
        conn.execute(_SQLITE_INSERT_NEW, {"rows": _document(rows)}).all()
    )
    if inserted:
        ids = dumps_text(list(inserted))
        conn.execute(_SQLITE_QUEUE_ROUTING, {"ids": ids, "now": rows[0]["received_at"]})
    return inserted


def _insert_postgresql(conn: Connection, rows: list[EventRow]) -> dict[str, int]:
    now = rows[0]["received_at"]
    return dict(conn.execute(_PG_INSERT_NEW, {"rows": _document(rows), "now": now}).all())


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
