"""Run shapes (DESIGN §2): the durable audit of a trigger, and what the trigger API answers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from control_tower.events.schemas import Event
from control_tower.kit.common import Identifier, UtcDatetime


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    success = "success"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = (RunStatus.success, RunStatus.failed, RunStatus.cancelled)


class Run(BaseModel):
    model_config = ConfigDict(title="Run")

    run_id: Identifier = Field(description="Stable across retries; the target's idempotency key.")
    trigger: str
    initiator: str = Field(description="Token name or user that asked for the run.")
    inputs: dict[str, Any] = Field(description="Inputs, redacted by the payload policy.")
    status: RunStatus
    metrics: dict[str, Any] = Field(default_factory=dict)
    logs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="One reference per attempt to the JSON log line CT wrote for it: its "
        "`event` and `run_id` find it; `attempt`, `at`, `outcome`, `status_code`.",
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    ended_at: UtcDatetime | None = None


class RunSummary(Run):
    model_config = ConfigDict(title="RunSummary")

    attempts: int = Field(description="Calls made to the target so far.")
    cancel_requested: bool = False
    next_attempt_at: UtcDatetime | None = Field(
        default=None, description="When a queued or retrying run is next due."
    )
    redactions: list[str] = Field(default_factory=list, description="Input paths masked.")


class Transition(BaseModel):
    model_config = ConfigDict(title="RunTransition")

    from_status: RunStatus | None
    to_status: RunStatus
    at: UtcDatetime
    actor: str
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class Note(BaseModel):
    model_config = ConfigDict(title="RunNote")

    at: UtcDatetime
    author: str
    text: str = Field(description="Redacted by the payload policy.")


class RunDetail(RunSummary):
    model_config = ConfigDict(title="RunDetail")

    transitions: list[Transition]
    notes: list[Note]
    events: list[Event] = Field(description="Events whose correlation_id is this run_id.")


class RunPage(BaseModel):
    items: list[RunSummary]
    next_cursor: str | None = None


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", title="TriggerRequest")

    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Checked against the trigger's input_schema."
    )


class TriggerAccepted(BaseModel):
    run_id: str
    status: RunStatus
    duplicate: bool = Field(
        default=False, description="True when an earlier request already created this run."
    )


class PlannedRequest(BaseModel):
    method: str
    url: str
    headers: dict[str, str] = Field(description="Without the signature, which is made per call.")
    body: dict[str, Any]


class DryRunResult(BaseModel):
    dry_run: bool = True
    trigger: str
    inputs: dict[str, Any] = Field(description="The inputs as they would be stored (redacted).")
    guards: list[str] = Field(description="Guards checked; all allow it now.")
    request: PlannedRequest


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="NoteIn")

    text: str = Field(min_length=1, max_length=4000)


class CancelResult(BaseModel):
    run_id: str
    status: RunStatus
    cancel_requested: bool = Field(
        description="True when the run is mid-call: the worker cancels before its next attempt."
    )
