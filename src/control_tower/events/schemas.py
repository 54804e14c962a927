"""Event shapes at the edges.

What producers send (camelCase aliases accepted) and what CT answers (snake_case).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from control_tower.kit.common import Identifier, UtcDatetime


class IngestStatus(StrEnum):
    accepted = "accepted"
    routed = "routed"
    retrying = "retrying"
    dead = "dead"

    @classmethod
    def of_route(cls, route_status: str | None) -> IngestStatus:
        """An event's ingest status from its routing job's: a job not yet tried is accepted."""
        return cls.accepted if route_status in (None, "pending") else cls(route_status)


class EventIn(BaseModel):
    """One event as a producer sends it. `eventId`, `correlationId`, `ts` are accepted aliases."""

    model_config = ConfigDict(extra="forbid", title="EventIn", populate_by_name=True)

    event_id: Identifier = Field(
        validation_alias=AliasChoices("event_id", "eventId"),
        description="The producer's idempotency key for this event.",
    )
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=128)
    occurred_at: UtcDatetime = Field(
        validation_alias=AliasChoices("occurred_at", "ts", "occurredAt"),
        description="When it happened, by the producer's clock.",
    )
    source: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    correlation_id: Identifier | None = Field(
        default=None, validation_alias=AliasChoices("correlation_id", "correlationId")
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class IngestInfo(BaseModel):
    model_config = ConfigDict(title="IngestInfo")

    received_at: UtcDatetime
    attempt: int
    status: IngestStatus


class Event(BaseModel):
    """An event as CT stores it and answers it (snake_case, payload redacted)."""

    model_config = ConfigDict(title="Event")

    event_id: Identifier
    type: str
    occurred_at: UtcDatetime
    source: str
    correlation_id: Identifier | None = None
    payload: dict[str, Any]
    redactions: list[str] = Field(description="Payload paths the redaction policy masked.")
    payload_sha256: str = Field(description="Hash of the normalised event before redaction.")
    producer: str = Field(description="Name of the token that sent it.")
    ingest: IngestInfo


class IngestResult(BaseModel):
    model_config = ConfigDict(title="IngestResult")

    event_id: str
    status: IngestStatus
    duplicate: bool
    redactions: list[str] = Field(default_factory=list)


class BatchItemResult(BaseModel):
    model_config = ConfigDict(title="BatchItemResult")

    index: int
    event_id: str | None
    status: int = Field(description="What a single POST /events would have answered.")
    duplicate: bool = False
    error: dict[str, Any] | None = None


class BatchResult(BaseModel):
    model_config = ConfigDict(title="BatchResult")

    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class EventPage(BaseModel):
    model_config = ConfigDict(title="EventPage")

    items: list[Event]
    next_cursor: str | None
