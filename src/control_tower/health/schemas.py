"""System health shapes (DESIGN §2): status, the reasons for it, SLOs."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from control_tower.kit.common import Identifier, UtcDatetime


class HealthStatus(StrEnum):
    green = "green"
    amber = "amber"
    red = "red"
    unknown = "unknown"


class Reason(BaseModel):
    """Why a system has its status: one objective, what was measured, against what."""

    model_config = ConfigDict(title="Reason")

    objective: str
    status: HealthStatus
    measured: Any
    threshold: Any
    window: str
    evidence: list[str] = Field(default_factory=list, description="Ids of evidence events.")
    message: str = ""


class System(BaseModel):
    model_config = ConfigDict(title="System")

    system_id: Identifier
    name: str
    status: HealthStatus
    reasons: list[Reason] = Field(default_factory=list)
    last_heartbeat_at: UtcDatetime | None = None
    errors_24h: int = 0
    slo: dict[str, Any] = Field(default_factory=dict)
    notes: str = ""


class HealthOverview(BaseModel):
    model_config = ConfigDict(title="HealthOverview")

    status: HealthStatus = Field(description="Worst status among the systems.")
    evaluated_at: UtcDatetime
    systems: list[System]


class StatusChange(BaseModel):
    model_config = ConfigDict(title="StatusChange")

    at: UtcDatetime
    from_status: HealthStatus
    to_status: HealthStatus
    reasons: list[Reason]


class SystemDetail(System):
    model_config = ConfigDict(title="SystemDetail")

    sources: list[str]
    evaluated_at: UtcDatetime
    status_since: UtcDatetime | None = None
    recent_changes: list[StatusChange] = Field(default_factory=list)
