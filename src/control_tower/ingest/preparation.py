"""Turn one raw event into the row to store: validate, hash the normalised event, redact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from control_tower.auth.principal import Principal
from control_tower.catalog import Catalog
from control_tower.events.redaction import redact
from control_tower.events.schemas import EventIn
from control_tower.events.validation import validate_event
from control_tower.kit.canonical import content_hash
from control_tower.models.events import EventRow


class PreparedEvent(NamedTuple):
    row: EventRow
    redactions: list[str]


def normalised(event: EventIn, occurred_at: datetime) -> dict[str, Any]:
    """The event with aliases resolved and time in UTC (`occurred_at`), before redaction:
    what 'same content' compares, so `eventId` and `event_id` spellings of one event are
    duplicates."""
    return {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": occurred_at.isoformat(),
        "source": event.source,
        "correlation_id": event.correlation_id,
        "payload": event.payload,
    }


def prepare_event(
    raw: Any,
    principal: Principal | None,
    catalog: Catalog,
    received_at: datetime,
    producer: str | None = None,
    envelope: EventIn | None = None,
) -> PreparedEvent:
    """Validate, hash and redact one event into the row to store (`envelope`: `raw`'s
    envelope, already validated by the caller)."""
    event = validate_event(raw, principal, catalog, envelope)
    payload, masked = redact(event.payload)
    occurred_at = event.occurred_at.astimezone(UTC)
    row: EventRow = {
        "event_id": event.event_id,
        "type": event.type,
        "source": event.source,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "correlation_id": event.correlation_id,
        "payload": payload,
        "redactions": masked,
        "payload_sha256": content_hash(normalised(event, occurred_at)),
        "producer": producer or (principal.name if principal else "ct"),
    }
    return PreparedEvent(row, masked)
