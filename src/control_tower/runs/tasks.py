"""The run worker as a background loop of a CT process (`ct serve` or `ct worker`)."""

from __future__ import annotations

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.kit.clock import Clock
from control_tower.runs.worker import RunWorker
from control_tower.settings import Settings


def build_run_worker(
    settings: Settings, engine: Engine, catalog: Catalog, clock: Clock, master_key: bytes
) -> RunWorker:
    return RunWorker(
        engine=engine,
        catalog=catalog,
        clock=clock,
        master_key=master_key,
        lease_seconds=settings.worker_lease_seconds,
        poll_seconds=settings.worker_poll_seconds,
        target_base_url=settings.trigger_target_base_url,
    )
