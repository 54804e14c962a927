"""Events CT emits itself (pollers, runs, integrations): same validation, redaction and store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.ingest.preparation import prepare_event
from control_tower.ingest.repository import InsertOutcome, insert_events


def emit_events(
    conn: Connection,
    catalog: Catalog,
    raw_events: Sequence[dict[str, Any]],
    *,
    producer: str,
    now: datetime,
) -> list[InsertOutcome]:
    """Store events inside the caller's transaction; a repeated event_id is a no-op duplicate.

    Raises Unprocessable if an event does not match the catalogue: CT's own events must be
    as valid as anyone's.
    """
    rows = [prepare_event(raw, None, catalog, now, producer=producer).row for raw in raw_events]
    return insert_events(conn, rows)
