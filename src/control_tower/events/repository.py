"""SQL for events: idempotent bulk insert and keyset listing, one code path for both backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Row, Select, select
from sqlalchemy.dialects import postgresql, sqlite

from control_tower.models import event_routes, events


@dataclass(frozen=True)
class InsertOutcome:
    event_id: str
    kind: str  # accepted | duplicate | conflict
    status: str


AfterInsert = Callable[[Connection, list[dict[str, Any]]], None]


def _insert_ignoring_conflicts(conn: Connection) -> Insert:
    # The two dialects spell ON CONFLICT DO NOTHING through different insert() constructs.
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt: Insert = (
        insert(events)
        .on_conflict_do_nothing(index_elements=[events.c.event_id])
        .returning(events.c.event_id, events.c.seq, sort_by_parameter_order=True)
    )
    return stmt


def insert_events(
    conn: Connection, rows: Sequence[dict[str, Any]], after_insert: AfterInsert | None = None
) -> list[InsertOutcome]:
    """Insert new events, tell each apart as accepted, duplicate (same hash) or conflict.

    Each new event gets its routing job (the outbox row) in the same transaction, so an
    acknowledged event is always routed eventually.
    """
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["event_id"], row)
    candidates = list(first.values())
    inserted: set[str] = set()
    if candidates:
        result = list(conn.execute(_insert_ignoring_conflicts(conn), candidates))
        inserted = {r.event_id for r in result}
        if result:
            _enqueue_routes(conn, result, candidates[0]["received_at"])
    existing: dict[str, Any] = {}
    missing = [eid for eid in first if eid not in inserted]
    if missing:
        query = select(events.c.event_id, events.c.payload_sha256, events.c.ingest_status).where(
            events.c.event_id.in_(missing)
        )
        existing = {r.event_id: r for r in conn.execute(query)}
    if after_insert is not None and inserted:
        after_insert(conn, [r for r in candidates if r["event_id"] in inserted])

    outcomes: list[InsertOutcome] = []
    claimed: set[str] = set()
    for row in rows:
        eid = row["event_id"]
        if eid in inserted and eid not in claimed and first[eid] is row:
            claimed.add(eid)
            outcomes.append(InsertOutcome(eid, "accepted", "accepted"))
            continue
        stored_hash, status = (
            (existing[eid].payload_sha256, existing[eid].ingest_status)
            if eid in existing
            else (first[eid]["payload_sha256"], "accepted")
        )
        kind = "duplicate" if stored_hash == row["payload_sha256"] else "conflict"
        outcomes.append(InsertOutcome(eid, kind, status))
    return outcomes


def _enqueue_routes(conn: Connection, inserted: list[Row[Any]], now: datetime) -> None:
    conn.execute(
        event_routes.insert(),
        [
            {
                "event_id": r.event_id,
                "seq": r.seq,
                "status": "pending",
                "attempts": 0,
                "available_at": now,
                "updated_at": now,
            }
            for r in inserted
        ],
    )


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


def list_query(flt: EventFilter, limit: int, before_seq: int | None) -> Select[Any]:
    """The SELECT behind `list_events`, on its own so a test can EXPLAIN it."""
    query = select(events)
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
    return conn.execute(select(events).where(events.c.event_id == event_id)).first()
