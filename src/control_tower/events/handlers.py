"""What the router does with each event: the handlers, applied in one transaction per batch.

The default handlers are system health (rollups), run correlation, and a hook list for the alert
rules of a later issue. A handler must be idempotent only with respect to the router: the router
commits a handler's effects in the same transaction that marks the event routed, so each event
is applied exactly once. A handler returns the systems whose health the batch touched (or None),
which tells the router whose status to re-evaluate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, case

from control_tower.catalog import Catalog
from control_tower.db import conflict_insert
from control_tower.health import rollups
from control_tower.models import correlations

EventRows = Sequence[Mapping[Any, Any]]
Handler = Callable[[Connection, Catalog, EventRows], set[str] | None]


def health_handler(conn: Connection, catalog: Catalog, rows: EventRows) -> set[str]:
    return rollups.apply_events(conn, catalog, rows)


def apply_correlations(conn: Connection, rows: EventRows) -> None:
    """One upsert per correlation id in the batch, however many events carry it."""
    folded: dict[str, dict[str, Any]] = {}
    for row in rows:
        correlation_id = row["correlation_id"]
        if not correlation_id:
            continue
        entry = folded.get(correlation_id)
        if entry is None:
            folded[correlation_id] = {
                "correlation_id": correlation_id,
                "events": 1,
                "first_at": row["occurred_at"],
                "last_at": row["occurred_at"],
                "last_event_id": row["event_id"],
                "last_type": row["type"],
            }
            continue
        entry["events"] += 1
        entry["first_at"] = min(entry["first_at"], row["occurred_at"])
        if row["occurred_at"] >= entry["last_at"]:
            entry.update(
                last_at=row["occurred_at"], last_event_id=row["event_id"], last_type=row["type"]
            )
    if not folded:
        return
    stmt = conflict_insert(conn, correlations)
    ex = stmt.excluded
    newer = ex.last_at >= correlations.c.last_at
    stmt = stmt.on_conflict_do_update(
        index_elements=["correlation_id"],
        set_={
            "events": correlations.c.events + ex.events,
            "first_at": case((ex.first_at < correlations.c.first_at, ex.first_at),
                             else_=correlations.c.first_at),
            "last_at": case((newer, ex.last_at), else_=correlations.c.last_at),
            "last_event_id": case((newer, ex.last_event_id), else_=correlations.c.last_event_id),
            "last_type": case((newer, ex.last_type), else_=correlations.c.last_type),
        },
    )  # fmt: skip
    conn.execute(stmt, list(folded.values()))


def correlation_handler(conn: Connection, _catalog: Catalog, rows: EventRows) -> None:
    apply_correlations(conn, rows)


def default_handlers() -> list[Handler]:
    """Health, then correlation. Alert rules append themselves here (a later issue)."""
    return [health_handler, correlation_handler]
