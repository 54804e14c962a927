"""Pollers as the rest of CT sees them: find one, run one now, list them with state.

Their scheduler jobs are in `tasks.py`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import GithubActionsPoller, HttpPoller
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.errors import NotFound
from control_tower.pollers import repository
from control_tower.pollers.common import PollOutcome
from control_tower.pollers.github_actions import run_github_poller
from control_tower.pollers.http_check import run_http_check


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
