"""What the router does with each event: the handlers, applied in one transaction per batch.

The default handlers are system health (rollups), run correlation, and a hook list for the alert
rules of a later issue. A handler looks at a batch of events and returns its effect: a function
that writes it on a connection. The router computes every effect before it opens the write
transaction (on SQLite the write lock is what ingest and routing share, so it is held only for
the writes) and commits the effects in the transaction that marks the events routed, so each
event is applied exactly once. An effect returns the systems whose health the batch touched (or
None), which tells the router whose status to re-evaluate. Handlers see the columns named in
`routing.ROUTED_COLUMNS` of each event.
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
Effect = Callable[[Connection], set[str] | None]
Handler = Callable[[Catalog, EventRows], Effect]


def health_handler(catalog: Catalog, rows: EventRows) -> Effect:
    return rollups.plan_events(catalog, rows).apply


def apply_correlations(conn: Connection, rows: EventRows) -> None:
    _write_correlations(conn, _fold_correlations(rows))


def _fold_correlations(rows: EventRows) -> dict[str, dict[str, Any]]:
    """One entry per correlation id in the batch, however many events carry it."""
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
    return folded


def _write_correlations(conn: Connection, folded: dict[str, dict[str, Any]]) -> None:
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


def correlation_handler(_catalog: Catalog, rows: EventRows) -> Effect:
    folded = _fold_correlations(rows)

    def write(conn: Connection) -> None:
        _write_correlations(conn, folded)

    return write


def default_handlers() -> list[Handler]:
    """Health, then correlation. Alert rules append themselves here (a later issue)."""
    return [health_handler, correlation_handler]
