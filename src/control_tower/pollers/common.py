"""What both pollers share: outcomes, per-slot event ids, and storing events with the state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.ingest.internal import emit_events
from control_tower.pollers import repository

PollStatus = Literal["ok", "not_modified", "failed", "skipped", "backoff"]


@dataclass(frozen=True)
class PollOutcome:
    poller: str
    status: PollStatus
    detail: str
    new_event_ids: list[str] = field(default_factory=list)
    backoff_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "poller": self.poller,
            "status": self.status,
            "detail": self.detail,
            "new_event_ids": self.new_event_ids,
            "backoff_until": self.backoff_until.isoformat() if self.backoff_until else None,
        }


def poll_event_id(poller: str, slot: datetime) -> str:
    """One id per scheduled poll: a re-run of the same slot is a duplicate, not a new event."""
    return f"poll:{poller}:{int(slot.timestamp())}"


def heartbeat_event(
    poller: str, system_id: str, slot: datetime, now: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": poll_event_id(poller, slot),
        "type": "system.heartbeat",
        "source": "ct",
        "occurred_at": now.isoformat(),
        "payload": {"system_id": system_id, "poller": poller, **extra},
    }


def check_failed_event(
    poller: str,
    system_id: str,
    slot: datetime,
    now: datetime,
    error: str,
    status_code: int | None,
) -> dict[str, Any]:
    return {
        "event_id": poll_event_id(poller, slot),
        "type": "system.check.failed",
        "source": "ct",
        "occurred_at": now.isoformat(),
        "payload": {
            "system_id": system_id,
            "poller": poller,
            "error": error,
            "status_code": status_code,
        },
    }


def record_poll(
    engine: Engine,
    catalog: Catalog,
    *,
    poller: str,
    kind: str,
    raw_events: Sequence[dict[str, Any]],
    status: PollStatus,
    detail: str,
    now: datetime,
    succeeded: bool,
    backoff_until: datetime | None = None,
    etags: dict[str, str] | None = None,
) -> PollOutcome:
    """Store a poll's events, ETags and state in one transaction: all of it or none."""
    with unit_of_work(engine) as conn:
        outcomes = (
            emit_events(conn, catalog, raw_events, producer=f"poller:{poller}", now=now)
            if raw_events
            else []
        )
        for url, etag in (etags or {}).items():
            repository.save_etag(conn, poller, url, etag, now)
        repository.save_state(
            conn,
            poller=poller,
            kind=kind,
            status=status,
            detail=detail,
            polled_at=now,
            succeeded=succeeded,
            backoff_until=backoff_until,
        )
    new_ids = [o.event_id for o in outcomes if o.kind == "accepted"]
    return PollOutcome(poller, status, detail, new_ids, backoff_until)
