"""Health's background part: the routing handler that folds events into rollups, the
after-pass hook that records status changes of the systems a routing pass touched, and the
scheduled sweep that evaluates every system (a heartbeat that stops coming touches nothing)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Connection, Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import rollups
from control_tower.health.hooks import StatusChangeHook
from control_tower.health.service import record_status_changes
from control_tower.routing.handlers import Effect, EventRows
from control_tower.scheduler import Every, Job, Slot


class StatusTracker:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        hook: StatusChangeHook,
        status_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._hook = hook
        # Evaluating a system costs a few queries: under load, evaluate the systems touched
        # since at most once per `status_seconds`, not after every small batch.
        self._status_seconds = status_seconds
        self._touched: set[str] = set()
        self._lock = threading.Lock()
        self._last_status = 0.0

    def handler(self, catalog: Catalog, rows: EventRows) -> Effect:
        """The routing handler: the batch's health plan, computed before the write."""
        plan = rollups.plan_events(catalog, rows)

        def write(conn: Connection) -> None:
            touched = plan.apply(conn)
            with self._lock:
                self._touched |= touched

        return write

    def after_pass(self, now: datetime) -> None:
        """Record the status changes that are due (the router loop calls it after each pass)."""
        tick = time.monotonic()
        with self._lock:
            if not self._touched or tick - self._last_status < self._status_seconds:
                return
            touched, self._touched = self._touched, set()
        try:
            with unit_of_work(self._engine) as conn:
                record_status_changes(conn, self._catalog, now, touched, hook=self._hook)
        except Exception:
            with self._lock:  # evaluate them again after the next pass
                self._touched |= touched
            raise
        self._last_status = tick


def health_jobs(engine: Engine, catalog: Catalog, hook: StatusChangeHook) -> list[Job]:
    """Every 30 s, evaluate every system and record its status change, and drop evidence too
    old to be shown."""

    def sweep(slot: Slot) -> None:
        with unit_of_work(engine) as conn:
            record_status_changes(conn, catalog, slot.at, hook=hook)
            rollups.prune_evidence(conn, slot.at)

    return [Job("health:sweep", Every(30), sweep)]
