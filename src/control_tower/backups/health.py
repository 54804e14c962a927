"""Backups' health objective: no successful backup for 26 hours turns CT's own system red.

Registered with health's extra objectives (health/objectives.py) by composition. Measured from
the last successful backup recorded in `backup_runs`; when none ever succeeded, from the first
attempt (so a destination that never worked turns red a day after the first try). A store with
no backup attempt at all says nothing: the nightly job has not run yet (`ct jobs list` shows
when it will).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from control_tower.backups import repository
from control_tower.catalog.backups import BackupsSpec
from control_tower.catalog.model import System
from control_tower.health.schemas import HealthStatus, Reason
from control_tower.models import backup_runs

OBJECTIVE = "backup_age"


def backup_reasons(spec: BackupsSpec) -> Callable[[Connection, System, datetime], list[Reason]]:
    """The check for `spec.system`: one reason, green or red, once a backup was attempted."""
    limit = timedelta(hours=spec.stale_after_hours)
    threshold = f"red after {spec.stale_after_hours:g} h without a successful backup"

    def check(conn: Connection, system: System, now: datetime) -> list[Reason]:
        if system.id != spec.system:
            return []
        last_ok = repository.last_run(conn, status="ok")
        if last_ok is not None:
            age = now - last_ok.finished_at
            status = HealthStatus.red if age > limit else HealthStatus.green
            message = f"last successful backup {_hours(age)} h ago ({last_ok.location})"
            measured = {"hours_since": round(age.total_seconds() / 3600, 1),
                        "last_success_at": last_ok.finished_at.isoformat()}  # fmt: skip
        else:
            first: datetime | None = conn.execute(
                select(backup_runs.c.started_at).order_by(backup_runs.c.id).limit(1)
            ).scalar()
            if first is None:
                return []
            age = now - first
            status = HealthStatus.red if age > limit else HealthStatus.green
            message = f"no backup has succeeded yet (first attempt {_hours(age)} h ago)"
            measured = {"hours_since": None, "last_success_at": None}
        last = repository.last_run(conn)
        if last is not None and last.status == "failed" and last.error:
            message += f"; last attempt failed: {last.error}"
        return [
            Reason(
                objective=OBJECTIVE, status=status, measured=measured, threshold=threshold,
                window=f"{spec.stale_after_hours:g} h", message=message,
            )
        ]  # fmt: skip

    return check


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:.1f}"
