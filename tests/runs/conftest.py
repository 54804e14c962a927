"""Fixtures for runs: a real local target server, a frozen clock, an API and workers on it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from control_tower.app import create_app
from control_tower.catalog import Catalog, load_default_catalog
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log, events, runs
from control_tower.runs.target import target_secret
from control_tower.runs.worker import RunWorker
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY
from tests.runs.target_server import Target, running_target

# A Thursday, 10:00 in London (GMT): inside the default finance window.
THURSDAY_10 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def secrets_for(catalog: Catalog) -> dict[str, str]:
    return {
        t.target.url.rstrip("/").rsplit("/", 1)[-1]: target_secret(
            TEST_MASTER_KEY.encode(), t.target.system
        )
        for t in catalog.triggers
    }


@pytest.fixture
def target() -> Iterator[Target]:
    with running_target(secrets_for(load_default_catalog())) as server:
        yield server


@pytest.fixture
def run_clock() -> FrozenClock:
    return FrozenClock(THURSDAY_10)


@pytest.fixture
def runs_settings(settings: Settings, target: Target) -> Settings:
    return settings.model_copy(
        update={"worker_enabled": False, "trigger_target_base_url": target.url}
    )


@pytest.fixture
def api(runs_settings: Settings, run_clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(runs_settings, clock=run_clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def cli_env(database_url: str, target: Target, tmp_path: Path) -> dict[str, str]:
    return {
        "CT_DATABASE_URL": database_url,
        "CT_SECRET_KEY": TEST_MASTER_KEY,
        "CT_DATA_DIR": str(tmp_path / "cli"),
        "CT_TRIGGER_TARGET_BASE_URL": target.url,
    }


WorkerFactory = Callable[..., RunWorker]


@pytest.fixture
def make_worker(engine: Engine, run_clock: FrozenClock, target: Target) -> Iterator[WorkerFactory]:
    made: list[RunWorker] = []

    def factory(name: str = "w1", **overrides: Any) -> RunWorker:
        worker = RunWorker(
            engine=engine,
            catalog=overrides.pop("catalog", load_default_catalog()),
            clock=run_clock,
            master_key=TEST_MASTER_KEY.encode(),
            lease_seconds=overrides.pop("lease_seconds", 30),
            target_base_url=target.url,
            worker_id=name,
            rng=random.Random(7),
            **overrides,
        )
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.client.close()


def count_rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def store_counts(engine: Engine) -> dict[str, int]:
    return {t.name: count_rows(engine, t) for t in (runs, audit_log, events)}
