"""Correlation ids: how many events carried each one (a run id, usually), kept by the router.

The run page and the correlation timeline read it; `ct rebuild` recomputes it from events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case

from control_tower.catalog import Catalog
from control_tower.db import conflict_insert
from control_tower.models import correlations
from control_tower.routing.handlers import Effect, EventRows


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
    """The router handler: fold the batch's correlation ids, written with the batch."""
    folded = _fold_correlations(rows)

    def write(conn: Connection) -> None:
        _write_correlations(conn, folded)

    return write
