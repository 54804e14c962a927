"""Events as CT's ingest contract spells them (docs/ingest.md §2), serialised once.

The bytes built here are the bytes signed, sent, spooled and re-sent: a retry or a flush never
re-serialises an event, so it can only ever be a duplicate of itself, never a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ct_producer._ids import new_ulid

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Event:
    """One event for `send_batch`; the same fields as `send`'s arguments."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    occurred_at: datetime | str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Envelope:
    """An event ready to go: its id, the exact JSON bytes that are signed and sent, and the
    event with its defaults filled in (re-sending that one is a duplicate, not a conflict)."""

    event_id: str
    body: bytes
    event: Event


def to_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def iso_utc(instant: datetime) -> str:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware (CT needs a UTC offset)")
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(event: Event, source: str) -> Envelope:
    """The event with its defaults filled in: a ULID id and now as `occurred_at`."""
    event_id = event.event_id or new_ulid()
    when = event.occurred_at if event.occurred_at is not None else datetime.now(UTC)
    occurred_at = when if isinstance(when, str) else iso_utc(when)
    document: dict[str, Any] = {
        "event_id": event_id,
        "type": event.type,
        "occurred_at": occurred_at,
        "source": source,
        "payload": dict(event.payload),
    }
    if event.correlation_id is not None:
        document["correlation_id"] = event.correlation_id
    resolved = Event(event.type, event.payload, event_id, occurred_at, event.correlation_id)
    return Envelope(event_id, to_json(document), resolved)


def batch_body(bodies: Sequence[bytes]) -> bytes:
    """`{"events": [...]}` made of the events' own bytes, not a re-serialisation of them."""
    return b'{"events":[' + b",".join(bodies) + b"]}"
