"""Fixtures of the fault tests: a throwaway PostgreSQL cluster this session owns.

Like the rest of the suite (tests/conftest.py), a machine without PostgreSQL does not fail the
run unless CT_REQUIRE_POSTGRES=1 (CI): then these tests fail. Otherwise they are reported as
not run, in the skip summary and in a banner at the end of the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from control_tower.db import build_engine
from control_tower.migrate import upgrade
from tests.faults.postgres_cluster import ThrowawayPostgres, find_bin_dir

NO_BINARIES = (
    "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH"
)


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CT_REQUIRE_POSTGRES=1 but the fault tests cannot run: {NO_BINARIES}")
        pytest.skip(f"PostgreSQL fault tests NOT run: {NO_BINARIES}")
    cluster = ThrowawayPostgres.create(bin_dir)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def outage_database(throwaway_postgres: ThrowawayPostgres) -> str:
    """A fresh, migrated database on the throwaway cluster (started if a test left it down);
    its SQLAlchemy URL."""
    if not throwaway_postgres.running():
        throwaway_postgres.start()
    name = f"ct_faults_{uuid.uuid4().hex[:10]}"
    throwaway_postgres.create_database(name)
    url = throwaway_postgres.url(name)
    engine = build_engine(url, pool_size=1)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Decided again here, not remembered from the fixture: under xdist this runs in the
    # controller, which never ran the fixture.
    if find_bin_dir() is None:
        terminalreporter.write_line(
            "!" * 78 + f"\n!! PostgreSQL fault tests (tests/faults) were NOT run: {NO_BINARIES}"
            "\n" + "!" * 78,
            red=True,
            bold=True,
        )
