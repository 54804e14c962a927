"""A durable count of the events ingest refused, by producer, reason and claimed type.

The weekly trend's "taxonomy drift" reads it (`ingest_refusals`): a producer that sends a type
the catalogue does not declare, a payload its schema refuses, or events for a source it does
not own. The `ct_events_ingested{outcome="rejected"}` metric counts the same refusals, but in
memory and without the reason. Only refusals of the event itself count: a bad token,
signature or body is not drift, and a batch answers each item, so a batch counts its items.

Each refused request adds its counts in one small transaction on a worker thread before it is
answered; a failure to count is logged and never changes the answer.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal, NamedTuple

import anyio.to_thread
from sqlalchemy import Connection, Engine

from control_tower.db import conflict_insert, unit_of_work
from control_tower.kit.errors import CTError
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.models import ingest_refusals

RefusalReason = Literal["unknown_type", "payload_invalid", "wrong_source", "envelope_invalid"]

_failures = ThrottledLog(__name__)
_SOURCE_CODES = {"wrong_source", "system_not_allowed"}


class Refusal(NamedTuple):
    producer: str
    source: str
    reason: RefusalReason
    event_type: str


def refusal_reason(exc: CTError) -> RefusalReason | None:
    """Why validation refused an event; None for what is not about the event (the store)."""
    if exc.code == "unknown_event_type":
        return "unknown_type"
    if exc.code in _SOURCE_CODES:
        return "wrong_source"
    if exc.status_code != 422:
        return None
    fields = [d.get("field", "") for d in exc.details or [] if isinstance(d, dict)]
    if "source" in fields:  # the type may not come from this source
        return "wrong_source"
    if any(str(f) == "payload" or str(f).startswith("payload.") for f in fields):
        return "payload_invalid"
    return "envelope_invalid"


def refusal(producer: str, source: str, raw: Any, exc: CTError) -> Refusal | None:
    reason = refusal_reason(exc)
    if reason is None:
        return None
    claimed = raw.get("type") if isinstance(raw, dict) else None
    return Refusal(producer[:128], source[:32], reason, (claimed or "")[:128]
                   if isinstance(claimed, str) else "")  # fmt: skip


class RefusalLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def record(self, refusals: Counter[Refusal], now: datetime) -> None:
        if not refusals:
            return
        try:
            await anyio.to_thread.run_sync(self._write, refusals, now)
        except Exception as exc:
            _failures.error("ingest_refusals_not_counted", type(exc).__name__,
                            refused=sum(refusals.values()), exc_info=exc)  # fmt: skip

    def _write(self, refusals: Counter[Refusal], now: datetime) -> None:
        with unit_of_work(self._engine) as conn:
            add_refusals(conn, refusals, now)


def add_refusals(conn: Connection, refusals: Counter[Refusal], now: datetime) -> None:
    bucket = now.replace(minute=0, second=0, microsecond=0)
    stmt = conflict_insert(conn, ingest_refusals)
    stmt = stmt.on_conflict_do_update(
        index_elements=["bucket_start", "producer", "source", "reason", "event_type"],
        set_={"refused": ingest_refusals.c.refused + stmt.excluded.refused},
    )
    rows = [{"bucket_start": bucket, **r._asdict(), "refused": n} for r, n in refusals.items()]
    conn.execute(stmt, rows)
