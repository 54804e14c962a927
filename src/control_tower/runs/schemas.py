"""Run shapes (DESIGN §2): the durable audit of a trigger."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from control_tower.kit.common import Identifier, UtcDatetime


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    success = "success"
    failed = "failed"
    cancelled = "cancelled"


class Run(BaseModel):
    model_config = ConfigDict(title="Run")

    run_id: Identifier = Field(description="Stable across retries; the target's idempotency key.")
    trigger: str
    initiator: str = Field(description="Token name or user that asked for the run.")
    inputs: dict[str, Any] = Field(description="Inputs, redacted by the payload policy.")
    status: RunStatus
    metrics: dict[str, Any] = Field(default_factory=dict)
    logs: list[dict[str, Any]] = Field(default_factory=list)
    created_at: UtcDatetime
    updated_at: UtcDatetime
    ended_at: UtcDatetime | None = None
