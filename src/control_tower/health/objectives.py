"""Objectives other features add to the health model, evaluated with the built-in ones.

A feature that knows something about a system's health that events do not say — notify: a
channel that keeps failing; backups: no backup for 26 hours — registers a check here. Each
check gets the connection, the catalogue system and the instant, and returns its reasons
(none when it has nothing to say about that system); `slo.evaluate` adds them to the
system's reasons, so they weigh on its status, show in `GET /systems/{id}` and the UI, and
move the status history like any other objective.

Health must not import the features (tests/test_layout.py), so checks are registered by
composition: `control_tower.background.register_health_objectives`, which every process that
evaluates health runs. Registering a name again replaces its check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from control_tower.catalog.model import System
from control_tower.health.schemas import Reason

ObjectiveCheck = Callable[[Connection, System, datetime], list[Reason]]


class ObjectiveRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, ObjectiveCheck] = {}

    def add(self, name: str, check: ObjectiveCheck) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    def names(self) -> list[str]:
        return list(self._checks)

    def reasons(self, conn: Connection, system: System, now: datetime) -> list[Reason]:
        return [reason for check in self._checks.values() for reason in check(conn, system, now)]


# The process's registry: objectives are code, the same for every request and job.
EXTRA_OBJECTIVES = ObjectiveRegistry()
