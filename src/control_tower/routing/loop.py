"""The router as a background task of a CT process: route what is due, then idle briefly.

After every pass (whether it routed anything or not) the loop calls the `after_pass` hooks
features registered, in the same worker thread: health uses one to re-evaluate the systems a
pass touched and to record status changes. An ingest commit wakes the loop early.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import anyio.to_thread
import structlog

from control_tower.kit.log_throttle import ThrottledLog
from control_tower.observability.metrics import Metrics
from control_tower.routing.router import Router, RouteReport

log = structlog.get_logger(__name__)

AfterPass = Callable[[datetime], None]


class RouterLoop:
    def __init__(
        self,
        router: Router,
        metrics: Metrics | None = None,
        after_pass: list[AfterPass] | None = None,
        idle_seconds: float = 0.25,
        coalesce_seconds: float = 0.05,
        busy_coalesce_seconds: float = 0.25,
    ) -> None:
        self.router = router
        self.metrics = metrics
        self.after_pass = after_pass if after_pass is not None else []
        self.idle_seconds = idle_seconds
        # A pass costs a few statements whatever its size: after a wake-up, wait a moment so
        # one pass routes what several commits stored, and longer while events keep coming.
        self.coalesce_seconds = coalesce_seconds
        self.busy_coalesce_seconds = busy_coalesce_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failures = ThrottledLog(__name__)

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
        """One routing pass and the hooks after it (synchronous: runs in a worker thread)."""
        report = self.router.route_once()
        if self.metrics is not None:
            for outcome in ("routed", "retrying", "dead"):
                if count := getattr(report, outcome):
                    self.metrics.routed.labels(outcome).inc(count)
        now = self.router.clock.now()
        for hook in self.after_pass:
            hook(now)
        return report

    async def _run(self) -> None:
        while True:
            try:
                report = await anyio.to_thread.run_sync(self.step)
            except Exception as exc:
                self._failures.error("router_step_failed", type(exc).__name__, exc_info=exc)
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
