"""SQL for pollers: their last state (with any back-off) and the ETags of conditional GETs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Table, select

from control_tower.db import conflict_insert
from control_tower.models import poller_etags, poller_state


@dataclass(frozen=True)
class PollerState:
    poller: str
    kind: str
    status: str
    detail: str
    last_polled_at: datetime
    last_success_at: datetime | None
    backoff_until: datetime | None


def _upsert(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    stmt = conflict_insert(conn, table).values(**values)
    updates = {k: v for k, v in values.items() if k not in keys}
    upsert: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=updates)
    conn.execute(upsert)


def get_state(conn: Connection, poller: str) -> PollerState | None:
    row = conn.execute(select(poller_state).where(poller_state.c.poller == poller)).first()
    return PollerState(**row._mapping) if row is not None else None


def all_states(conn: Connection) -> dict[str, PollerState]:
    return {row.poller: PollerState(**row._mapping) for row in conn.execute(select(poller_state))}


def save_state(
    conn: Connection,
    *,
    poller: str,
    kind: str,
    status: str,
    detail: str,
    polled_at: datetime,
    succeeded: bool,
    backoff_until: datetime | None,
) -> None:
    previous = get_state(conn, poller)
    last_success = polled_at if succeeded else (previous.last_success_at if previous else None)
    _upsert(
        conn,
        poller_state,
        {
            "poller": poller,
            "kind": kind,
            "status": status,
            "detail": detail[:2000],
            "last_polled_at": polled_at,
            "last_success_at": last_success,
            "backoff_until": backoff_until,
        },
        ["poller"],
    )


def get_etags(conn: Connection, poller: str) -> dict[str, str]:
    query = select(poller_etags.c.url, poller_etags.c.etag).where(poller_etags.c.poller == poller)
    return {row.url: row.etag for row in conn.execute(query)}


def save_etag(conn: Connection, poller: str, url: str, etag: str, now: datetime) -> None:
    _upsert(
        conn,
        poller_etags,
        {"poller": poller, "url": url, "etag": etag, "updated_at": now},
        ["poller", "url"],
    )
