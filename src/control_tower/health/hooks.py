"""The status-change hook: features subscribe to hear when a system's status moves.

`record_status_changes` publishes each batch of changes inside the transaction that records
them, so a subscriber's writes (an alert, a notification in the outbox) commit with the change
or not at all, and a change is published once however many routers evaluated it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from control_tower.health.schemas import HealthStatus


@dataclass(frozen=True)
class SystemStatusChange:
    system_id: str
    at: datetime
    from_status: HealthStatus
    to_status: HealthStatus
    reasons: list[dict[str, Any]]

    def row(self) -> dict[str, Any]:
        """The `system_status_changes` row."""
        values = asdict(self)
        values.update(from_status=self.from_status.value, to_status=self.to_status.value)
        return values


StatusSubscriber = Callable[[Connection, list[SystemStatusChange]], None]


class StatusChangeHook:
    def __init__(self) -> None:
        self._subscribers: list[StatusSubscriber] = []

    def subscribe(self, subscriber: StatusSubscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, conn: Connection, changes: list[SystemStatusChange]) -> None:
        for subscriber in self._subscribers:
            subscriber(conn, changes)
