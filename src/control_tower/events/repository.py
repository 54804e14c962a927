"""SQL for events: idempotent bulk insert (one twin per dialect) and keyset listing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Connection, Row, Select, select

from control_tower.kit.json_text import dumps_text
from control_tower.models import event_routes, events
from control_tower.models.base import naive_utc_text, to_naive_utc


class InsertOutcome(NamedTuple):  # one per event: a frozen dataclass's __init__ costs 3× more
    event_id: str
    kind: str  # accepted | duplicate | conflict
    status: str


AfterInsert = Callable[[Connection, list[dict[str, Any]]], None]


# PostgreSQL: INSERT … SELECT FROM jsonb_to_recordset(…): the rows travel as one JSON document
# (one C-encoded dump) in a statement whose text never changes, and the same statement
# writes each new event's routing job (one round trip). A long multi-row VALUES statement is
# re-parsed by psycopg on every call (its statement cache skips long queries), and unnest() of
# one array per column has psycopg quote every element in Python: both cost more client CPU
# per event than the rest of ingest. In psycopg's parameter style: the commits on the event
# loop (`insert_events_async`) send it with psycopg itself, the others through SQLAlchemy's
# exec_driver_sql. One statement, so it is atomic even on an autocommit connection.
PG_BULK_INSERT = """
    WITH inserted AS (
        INSERT INTO events (event_id, type, source, occurred_at, received_at, correlation_id,
                            payload, redactions, payload_sha256, producer)
        SELECT u.event_id, u.type, u.source, u.occurred_at, u.received_at, u.correlation_id,
               u.payload, u.redactions, u.payload_sha256, u.producer
          FROM ROWS FROM (jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS (
                 event_id varchar, type varchar, source varchar, occurred_at timestamp,
                 received_at timestamp, correlation_id varchar, payload jsonb, redactions jsonb,
                 payload_sha256 varchar, producer varchar)
               ) WITH ORDINALITY AS u(event_id, type, source, occurred_at, received_at,
                                      correlation_id, payload, redactions, payload_sha256,
                                      producer, n)
         ORDER BY u.n
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id, seq
    ), routed AS (
        INSERT INTO event_routes (event_id, seq, status, attempts, available_at, updated_at)
        SELECT event_id, seq, 'pending', 0, %(now)s, %(now)s FROM inserted
    )
    SELECT event_id FROM inserted
"""
# The stored hash and routing status of events a commit did not insert (duplicates, conflicts).
PG_EXISTING = """
    SELECT e.event_id, e.payload_sha256, r.status
      FROM events e LEFT JOIN event_routes r ON r.event_id = e.event_id
     WHERE e.event_id = ANY(%(ids)s)
"""


# SQLite: a multi-row VALUES statement with plain `?` parameters, executed through the driver,
# so no per-row bind processing runs in Python (SQLAlchemy's added ≈ 7-10 µs per row). Values
# are written as SQLAlchemy's types read them back (JSON text, DATETIME in naive_utc_text's
# format). Rows go in chunks of a few fixed sizes so that sqlite3's
# prepared-statement cache holds every statement text.
_SQLITE_COLUMNS = (
    "event_id, type, source, occurred_at, received_at, correlation_id, payload, redactions, "
    "payload_sha256, producer"
)
_SQLITE_CHUNKS = (256, 64, 16, 4, 1)
_SQLITE_INSERTS = {
    size: f"INSERT INTO events ({_SQLITE_COLUMNS}) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * size)
    + " ON CONFLICT (event_id) DO NOTHING"
    for size in _SQLITE_CHUNKS
}
# No RETURNING: sqlite3 fetches each returned row with its own step (and a GIL hand-off).
# The transaction holds SQLite's write lock and a new row always gets the seq after the largest
# one, so the n rows a transaction inserts have the n seqs ending at last_insert_rowid(). The
# routing jobs are queued from that range in one statement, which also checks the count.
_SQLITE_ENQUEUE = (
    "INSERT INTO event_routes (event_id, seq, status, attempts, available_at, updated_at) "
    "SELECT event_id, seq, 'pending', 0, ?, ? FROM events WHERE seq BETWEEN ? AND ?"
)


def _insert_sqlite(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> set[str]:
    new = 0
    start = 0
    # Every event of a request shares one received_at: format each distinct one once.
    received: dict[int, str] = {}
    for size in _SQLITE_CHUNKS:
        while len(rows) - start >= size:
            params: list[Any] = []
            for r in rows[start : start + size]:
                received_at = r["received_at"]
                stamp = received.get(id(received_at))
                if stamp is None:
                    stamp = received[id(received_at)] = naive_utc_text(received_at)
                params += (
                    r["event_id"],
                    r["type"],
                    r["source"],
                    r.get("occurred_at_text") or naive_utc_text(r["occurred_at"]),
                    stamp,
                    r.get("correlation_id"),
                    dumps_text(r["payload"]),
                    dumps_text(r["redactions"]) if r["redactions"] else "[]",
                    r["payload_sha256"],
                    r["producer"],
                )
            new += conn.exec_driver_sql(_SQLITE_INSERTS[size], tuple(params)).rowcount
            start += size
    if not new:
        return set()
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    first = last - new + 1
    stamp = naive_utc_text(now)
    queued = conn.exec_driver_sql(_SQLITE_ENQUEUE, (stamp, stamp, first, last)).rowcount
    if queued != new:
        raise RuntimeError(f"queued {queued} routing jobs for {new} new events")
    if new == len(rows):
        return {r["event_id"] for r in rows}
    range_ids = "SELECT event_id FROM events WHERE seq BETWEEN ? AND ?"
    return set(conn.exec_driver_sql(range_ids, (first, last)).scalars())


def pg_rows_document(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as the JSON document PG_BULK_INSERT reads."""
    # Every event of a request shares one received_at: format each distinct one once.
    received: dict[int, str] = {}
    for r in rows:
        if id(r["received_at"]) not in received:
            received[id(r["received_at"])] = naive_utc_text(r["received_at"])
    return dumps_text(
        [
            {
                "event_id": r["event_id"],
                "type": r["type"],
                "source": r["source"],
                "occurred_at": r.get("occurred_at_text") or naive_utc_text(r["occurred_at"]),
                "received_at": received[id(r["received_at"])],
                "correlation_id": r.get("correlation_id"),
                "payload": r["payload"],
                "redactions": r["redactions"],
                "payload_sha256": r["payload_sha256"],
                "producer": r["producer"],
            }
            for r in rows
        ]
    )


def _insert_postgresql(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> set[str]:
    params = {"rows": pg_rows_document(rows), "now": to_naive_utc(now)}
    return set(conn.exec_driver_sql(PG_BULK_INSERT, params).scalars())


async def insert_events_async(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[dict[str, Any]]
) -> list[InsertOutcome]:
    """`insert_events` on PostgreSQL over an autocommit psycopg connection on the event loop:
    the insert is one statement, committed (WAL flushed) when it returns."""
    if not rows:
        return []
    first = first_of_each(rows)
    candidates = list(first.values())
    params = {
        "rows": pg_rows_document(candidates),
        "now": to_naive_utc(candidates[0]["received_at"]),
    }
    cursor = await conn.execute(PG_BULK_INSERT, params)
    inserted = {row[0] for row in await cursor.fetchall()}
    existing: dict[str, Any] = {}
    if missing := [eid for eid in first if eid not in inserted]:
        cursor = await conn.execute(PG_EXISTING, {"ids": missing})
        existing = {row[0]: _Stored(row[1], row[2]) for row in await cursor.fetchall()}
    return outcomes_of(rows, first, inserted, existing)


class _Stored(NamedTuple):
    payload_sha256: str
    status: str | None


def first_of_each(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each event_id's first row: the one a commit inserts (a later one is its duplicate)."""
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["event_id"], row)
    return first


def insert_events(
    conn: Connection, rows: Sequence[dict[str, Any]], after_insert: AfterInsert | None = None
) -> list[InsertOutcome]:
    """Insert new events, tell each apart as accepted, duplicate (same hash) or conflict.

    Each new event gets its routing job (the outbox row) in the same transaction, so an
    acknowledged event is always routed eventually.
    """
    first = first_of_each(rows)
    candidates = list(first.values())
    inserted: set[str] = set()
    if candidates:
        # Two hand-written twins (see their comments): each dialect's fastest bulk insert that
        # skips existing event_ids, queues a routing job per new event and returns the ids it
        # inserted.
        now = candidates[0]["received_at"]
        if conn.dialect.name == "postgresql":
            inserted = _insert_postgresql(conn, candidates, now)
        else:
            inserted = _insert_sqlite(conn, candidates, now)
    existing: dict[str, Any] = {}
    missing = [eid for eid in first if eid not in inserted]
    if missing:
        query = (
            select(events.c.event_id, events.c.payload_sha256, event_routes.c.status)
            .outerjoin(event_routes, event_routes.c.event_id == events.c.event_id)
            .where(events.c.event_id.in_(missing))
        )
        existing = {r.event_id: r for r in conn.execute(query)}
    if after_insert is not None and inserted:
        after_insert(conn, [r for r in candidates if r["event_id"] in inserted])
    return outcomes_of(rows, first, inserted, existing)


def outcomes_of(
    rows: Sequence[dict[str, Any]],
    first: dict[str, dict[str, Any]],
    inserted: set[str],
    existing: dict[str, Any],
) -> list[InsertOutcome]:
    """Each row's outcome: accepted (inserted now), else a duplicate or a conflict of what is
    stored (`existing`: payload_sha256 and routing status by event_id) or of an earlier row."""
    outcomes: list[InsertOutcome] = []
    claimed: set[str] = set()
    for row in rows:
        eid = row["event_id"]
        if eid in inserted and eid not in claimed and first[eid] is row:
            claimed.add(eid)
            outcomes.append(InsertOutcome(eid, "accepted", "accepted"))
            continue
        stored_hash, status = (
            (existing[eid].payload_sha256, ingest_status(existing[eid].status))
            if eid in existing
            else (first[eid]["payload_sha256"], "accepted")
        )
        kind = "duplicate" if stored_hash == row["payload_sha256"] else "conflict"
        outcomes.append(InsertOutcome(eid, kind, status))
    return outcomes


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


def ingest_status(route_status: str | None) -> str:
    """An event's ingest status from its routing job's: a job not yet tried is `accepted`."""
    return "accepted" if route_status in (None, "pending") else route_status


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
