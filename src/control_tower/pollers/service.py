"""Pollers as the rest of CT sees them: run one now, list them with state, register the jobs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import GithubActionsPoller, HttpPoller
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.errors import NotFound
from control_tower.observability.metrics import Metrics
from control_tower.pollers import repository
from control_tower.pollers.common import PollOutcome
from control_tower.pollers.github_actions import run_github_poller
from control_tower.pollers.http_check import run_http_check
from control_tower.scheduler import Job


def find_poller(catalog: Catalog, name: str) -> HttpPoller | GithubActionsPoller:
    for poller in catalog.pollers:
        if poller.name == name:
            return poller
    known = ", ".join(p.name for p in catalog.pollers) or "none"
    raise NotFound(f"no poller {name!r} in the catalogue (pollers: {known})")


def run_poller(
    engine: Engine,
    catalog: Catalog,
    poller: HttpPoller | GithubActionsPoller,
    *,
    slot: datetime,
    clock: Clock,
    env: Mapping[str, str] | None = None,
) -> PollOutcome:
    """Poll once for `slot`, which keys the poll's events: a re-run stores nothing new."""
    if isinstance(poller, HttpPoller):
        return run_http_check(engine, catalog, poller, slot=slot, clock=clock)
    return run_github_poller(engine, catalog, poller, slot=slot, clock=clock, env=env)


def poller_jobs(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    env: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
) -> list[Job]:
    """One scheduler job per catalogue poller, named `poller:<name>`, at its interval.

    With `metrics`, each poll counts in `ct_polls{poller,outcome}` (`error` when it raised),
    `ct_poll_duration_seconds{poller}` and `ct_poll_events{poller}`.
    """

    def job_for(poller: HttpPoller | GithubActionsPoller) -> Job:
        def run(slot: datetime) -> PollOutcome:
            if metrics is None:
                return run_poller(engine, catalog, poller, slot=slot, clock=clock, env=env)
            started = time.perf_counter()
            outcome = "error"
            try:
                result = run_poller(engine, catalog, poller, slot=slot, clock=clock, env=env)
                outcome = result.status
                metrics.poll_events.labels(poller.name).inc(len(result.new_event_ids))
                return result
            finally:
                metrics.polls.labels(poller.name, outcome).inc()
                metrics.poll_duration.labels(poller.name).observe(time.perf_counter() - started)

        return Job(f"poller:{poller.name}", poller.interval_seconds, run)

    return [job_for(p) for p in catalog.pollers]


def list_pollers(engine: Engine, catalog: Catalog) -> list[dict[str, Any]]:
    with unit_of_work(engine, write=False) as conn:
        states = repository.all_states(conn)
    rows = []
    for poller in catalog.pollers:
        state = states.get(poller.name)
        target = poller.url if isinstance(poller, HttpPoller) else ", ".join(poller.repos)
        rows.append(
            {
                "name": poller.name,
                "kind": poller.kind,
                "system": poller.system,
                "target": target,
                "interval_seconds": poller.interval_seconds,
                "status": state.status if state else None,
                "detail": state.detail if state else None,
                "last_polled_at": state.last_polled_at.isoformat() if state else None,
                "last_success_at": (
                    state.last_success_at.isoformat() if state and state.last_success_at else None
                ),
                "backoff_until": (
                    state.backoff_until.isoformat() if state and state.backoff_until else None
                ),
            }
        )
    return rows
