"""Reading statuses out of the status history."""

from __future__ import annotations

from control_tower.health.schemas import HealthStatus
from control_tower.reports.repository import Change

BREACH = {HealthStatus.amber.value, HealthStatus.red.value}
_RANK = {HealthStatus.unknown: 0, HealthStatus.green: 1, HealthStatus.amber: 2, HealthStatus.red: 3}


def status_of(change: Change | None) -> HealthStatus:
    """The status a change left; unknown before the first one."""
    return HealthStatus(change.to_status) if change is not None else HealthStatus.unknown


def worse(a: HealthStatus, b: HealthStatus) -> HealthStatus:
    return a if _RANK[a] >= _RANK[b] else b
