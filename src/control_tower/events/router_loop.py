"""The router as a background task: route what is due, record status changes, idle briefly."""

from __future__ import annotations

import asyncio
import contextlib
import time

import anyio.to_thread
import structlog

from control_tower.db import unit_of_work
from control_tower.events.routing import Router, RouteReport
from control_tower.health.rollups import prune_evidence
from control_tower.health.service import record_status_changes
from control_tower.observability.metrics import Metrics

log = structlog.get_logger(__name__)


class RouterLoop:
    def __init__(
        self,
        router: Router,
        metrics: Metrics | None = None,
        idle_seconds: float = 0.25,
        sweep_seconds: float = 30.0,
        status_seconds: float = 1.0,
        coalesce_seconds: float = 0.05,
        busy_coalesce_seconds: float = 0.25,
    ) -> None:
        self.router = router
        self.metrics = metrics
        self.idle_seconds = idle_seconds
        self.sweep_seconds = sweep_seconds
        # Evaluating SLOs costs a few queries per system: under load, do it at most once per
        # `status_seconds` for the systems touched since, not after every small batch.
        self.status_seconds = status_seconds
        # After a wake-up, wait this long so one pass routes what several commits stored; while
        # events keep coming, wait longer: a pass costs a few milliseconds whatever its size
        # (two transactions, a dozen statements), which at 50 ms apart took a quarter of a core
        # under single-event load (docs/benchmarks.md).
        self.coalesce_seconds = coalesce_seconds
        self.busy_coalesce_seconds = busy_coalesce_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_sweep = 0.0
        self._last_status = 0.0
        self._touched: set[str] = set()

    def wake(self) -> None:
        """Called after an ingest commit so new events route without waiting for the idle tick."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"ct-{self.router.name}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def step(self) -> RouteReport:
        """One routing step plus status bookkeeping (sync; runs in a worker thread)."""
        report = self.router.route_once()
        if self.metrics is not None:
            for outcome in ("routed", "retrying", "dead"):
                if count := getattr(report, outcome):
                    self.metrics.routed.labels(outcome).inc(count)
        self._touched |= report.touched_systems
        now = self.router.clock.now()
        tick = time.monotonic()
        sweep = tick - self._last_sweep >= self.sweep_seconds
        due = bool(self._touched) and tick - self._last_status >= self.status_seconds
        if due or sweep:
            with unit_of_work(self.router.engine, write=True) as conn:
                record_status_changes(
                    conn, self.router.catalog, now, None if sweep else self._touched
                )
                if sweep:
                    prune_evidence(conn, now)
            self._touched = set()
            self._last_status = tick
            if sweep:
                self._last_sweep = tick
        return report

    async def _run(self) -> None:
        while True:
            try:
                report = await anyio.to_thread.run_sync(self.step)
            except Exception as exc:
                log.error("router_step_failed", error=type(exc).__name__, exc_info=exc)
                report = RouteReport()
            if report.handled >= self.router.config.batch_size:
                continue  # a backlog: keep going
            if report.handled:
                await asyncio.sleep(self.busy_coalesce_seconds)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
            except TimeoutError:
                continue
            await asyncio.sleep(self.coalesce_seconds)
