"""Fixtures: every storage test runs on a real SQLite file and a real PostgreSQL database.

PostgreSQL: each test session (each xdist worker) creates its own database and drops it at the
end. Without a reachable PostgreSQL the suite runs the SQLite half and says so loudly, unless
CT_REQUIRE_POSTGRES=1 (set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from control_tower.app import create_app
from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.catalog import Catalog, load_default_catalog
from control_tower.db import build_engine, unit_of_work
from control_tower.ingest.internal import emit_events
from control_tower.kit.clock import FrozenClock
from control_tower.migrate import upgrade
from control_tower.models import metadata
from control_tower.routing.router import Router, RouterConfig
from control_tower.settings import Settings
from tests.helpers import Emit, Producer, Staff, new_router

pytest_plugins = ["tests.servers"]

PG_ADMIN_DSN = os.environ.get("CT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TEST_MASTER_KEY = "test-master-key-not-secret"
_pg_state: dict[str, Any] = {"checked": False, "ok": False, "error": None}


def postgres_available() -> bool:
    if not _pg_state["checked"]:
        _pg_state["checked"] = True
        try:
            with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["ok"] = True
        except psycopg.Error as exc:
            _pg_state["error"] = str(exc)
    return bool(_pg_state["ok"])


def pytest_configure() -> None:
    if os.environ.get("CT_REQUIRE_POSTGRES") == "1" and not postgres_available():
        raise pytest.UsageError(
            f"CT_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable at {PG_ADMIN_DSN}: "
            f"{_pg_state['error']}"
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if shift := os.environ.get("SUITE_CLOCK_SHIFT_SECONDS"):
        terminalreporter.write_line(
            f"clock shifted by {shift} s: the suite ran as if at "
            f"{datetime.now(UTC).isoformat(timespec='seconds')} (tests/clock_shift)",
            bold=True,
        )
    if not postgres_available():
        terminalreporter.write_line(
            "!" * 78 + "\n!! PostgreSQL was NOT tested: unreachable at "
            f"{PG_ADMIN_DSN}\n" + "!" * 78,
            red=True,
            bold=True,
        )


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_available() else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends(), scope="session")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, migrated once, dropped at the end."""
    name = f"ct_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    url = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = build_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _reset_postgres(url: str) -> None:
    engine = build_engine(url, pool_size=1)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        # Test-only: bypass the append-only triggers to empty the tables between tests.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, :h)"),
            {"h": "0" * 64},
        )
    engine.dispose()


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    if backend == "sqlite":
        path = tmp_path / "ct.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = build_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    """The suite's one clock: the app under test (`client`), the router, the scheduler, tokens
    and test data all read it. It starts at the process clock's now, so a test never meets a
    date written in its source with the real calendar; tests that need a particular instant
    (a DST change, a weekday) `set` it, and tests that need time to pass `advance` it."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_MASTER_KEY,
        token_cache_seconds=0,
        log_json=True,
        # Background loops off, as for an API-only replica: tests drive the router, the
        # scheduler and the run worker step by step with the suite's clock
        # (tests/routing/, tests/test_scheduler.py, tests/runs/); tests that start `ct serve`
        # or turn them on run them as shipped.
        router_enabled=False,
        scheduler_enabled=False,
        worker_enabled=False,
        notify_enabled=False,
    )


@pytest.fixture
def client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def catalog_sources() -> set[str]:
    return load_default_catalog().source_ids()


@functools.cache
def default_sources() -> frozenset[str]:
    """The default catalogue's sources, parsed once: loading the catalogue takes ~80 ms."""
    return frozenset(load_default_catalog().source_ids())


def issue_token(
    engine: Engine,
    name: str,
    role: Role,
    source: str | None = None,
    *,
    now: datetime,
    **extra: Any,
) -> tokens.IssuedToken:
    with unit_of_work(engine) as conn:
        return tokens.create_token(
            conn,
            name=name,
            role=role,
            source=source,
            now=now,
            master_key=TEST_MASTER_KEY.encode(),
            known_sources=set(default_sources()),
            actor="test",
            **extra,
        )


@pytest.fixture
def producer(engine: Engine, clock: FrozenClock) -> Producer:
    return Producer(
        issue_token(engine, "backend-producer", Role.producer, "backend", now=clock.now())
    )


@pytest.fixture
def staff(engine: Engine, clock: FrozenClock) -> Staff:
    return Staff(
        {
            role: issue_token(engine, f"{role.value}-user", role, now=clock.now())
            for role in Role
            if role is not Role.producer
        }
    )


@pytest.fixture
def catalog() -> Catalog:
    return load_default_catalog()


@pytest.fixture
def router(engine: Engine, catalog: Catalog, clock: FrozenClock) -> Router:
    return new_router(engine, catalog, clock, RouterConfig(max_attempts=3, backoff_base_seconds=2))


@pytest.fixture
def emit(engine: Engine, catalog: Catalog, clock: FrozenClock) -> Emit:
    """Store one event as received now (by the test clock), occurred `late` earlier."""
    counter = {"n": 0}

    def _emit(
        event_type: str,
        source: str,
        payload: dict[str, Any],
        *,
        late: timedelta = timedelta(seconds=5),
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        **extra: Any,
    ) -> str:
        counter["n"] += 1
        now = clock.now()
        eid = event_id or f"e-{counter['n']:05d}"
        raw = {
            "event_id": eid,
            "type": event_type,
            "source": source,
            "occurred_at": (occurred_at or now - late).isoformat(),
            "payload": payload,
            **extra,
        }
        with unit_of_work(engine) as conn:
            emit_events(conn, catalog, [raw], producer="test", now=now)
        return eid

    return _emit
