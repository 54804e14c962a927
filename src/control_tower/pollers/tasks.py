"""The pollers' scheduler jobs: one per catalogue poller, at its interval."""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import GithubActionsPoller, HttpPoller
from control_tower.kit.clock import Clock
from control_tower.observability.metrics import Metrics
from control_tower.pollers.common import PollOutcome
from control_tower.pollers.service import run_poller
from control_tower.scheduler import Every, Job, Slot


def poller_jobs(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    env: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
) -> list[Job]:
    """One scheduler job per catalogue poller, named `poller:<name>`, every `interval_seconds`.

    A poll reports the present, so a missed slot is not worth replaying: no catch-up.
    With `metrics`, each poll counts in `ct_polls{poller,outcome}` (`error` when it raised),
    `ct_poll_duration_seconds{poller}` and `ct_poll_events{poller}`.
    """

    def job_for(poller: HttpPoller | GithubActionsPoller) -> Job:
        def run(slot: Slot) -> PollOutcome:
            if metrics is None:
                return run_poller(engine, catalog, poller, slot=slot.at, clock=clock, env=env)
            started = time.perf_counter()
            outcome = "error"
            try:
                result = run_poller(engine, catalog, poller, slot=slot.at, clock=clock, env=env)
                outcome = result.status
                metrics.poll_events.labels(poller.name).inc(len(result.new_event_ids))
                return result
            finally:
                metrics.polls.labels(poller.name, outcome).inc()
                metrics.poll_duration.labels(poller.name).observe(time.perf_counter() - started)

        return Job(f"poller:{poller.name}", Every(poller.interval_seconds), run)

    return [job_for(p) for p in catalog.pollers]
