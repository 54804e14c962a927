"""The background loops a CT process runs: in `ct serve` (lifespan) and in `ct worker`.

Add a feature's loop here once and both doors run it. Today: the run worker and the
notification delivery worker.
"""

from __future__ import annotations

from sqlalchemy import Engine

from control_tower.auth.tasks import register_token_age_objective
from control_tower.backups.tasks import register_backup_objective
from control_tower.catalog import Catalog
from control_tower.health.objectives import EXTRA_OBJECTIVES
from control_tower.kit.clock import Clock
from control_tower.kit.loops import Loop
from control_tower.notify.tasks import (
    build_delivery_worker,
    delivery_enabled,
    register_delivery_objective,
)
from control_tower.runs.tasks import build_run_worker
from control_tower.settings import Settings


def background_loops(
    settings: Settings, engine: Engine, catalog: Catalog, clock: Clock, master_key: bytes
) -> list[Loop]:
    loops: list[Loop] = []
    register_health_objectives()
    register_backup_objective(EXTRA_OBJECTIVES, catalog)
    register_token_age_objective(EXTRA_OBJECTIVES, settings)
    if settings.worker_enabled:
        loops.append(build_run_worker(settings, engine, catalog, clock, master_key).loop)
    if delivery_enabled(settings, catalog):
        loops.append(build_delivery_worker(engine, catalog, clock).loop)
    return loops


def register_health_objectives() -> None:
    """Features' objectives in the health model (health/objectives.py), registered by every
    process that runs these loops: each also evaluates health (status tracking, the sweep)."""
    register_delivery_objective(EXTRA_OBJECTIVES)
