"""The background loops a CT process runs: in `ct serve` (lifespan) and in `ct worker`.

Add a feature's loop here once and both doors run it. Today: the run worker.
"""

from __future__ import annotations

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.kit.clock import Clock
from control_tower.kit.loops import Loop
from control_tower.runs.tasks import build_run_worker
from control_tower.settings import Settings


def background_loops(
    settings: Settings, engine: Engine, catalog: Catalog, clock: Clock, master_key: bytes
) -> list[Loop]:
    loops: list[Loop] = []
    if settings.worker_enabled:
        loops.append(build_run_worker(settings, engine, catalog, clock, master_key).loop)
    return loops
