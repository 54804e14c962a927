"""Migration 0008 on both stores: interval rows get their description, and back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from control_tower.db import build_engine
from control_tower.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN_DSN


@pytest.fixture
def fresh_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A store of its own, which this test migrates up and down."""
    if backend == "sqlite":
        engine = build_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield engine
        engine.dispose()
        return
    name = f"ct_sched_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    engine = build_engine(f"postgresql+psycopg://{base}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_interval_rows_keep_their_schedule_through_0008_and_back(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0007")
    with fresh_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO scheduled_jobs (name, interval_seconds, runs) VALUES (:n, :i, 3)"),
            [{"n": "poller:ct-self", "i": 60}, {"n": "poller:github-ci", "i": 300}],
        )
    upgrade(fresh_engine)
    columns = {c["name"]: c for c in inspect(fresh_engine).get_columns("scheduled_jobs")}
    assert "interval_seconds" not in columns
    assert columns["schedule"]["nullable"] is False
    with fresh_engine.begin() as conn:
        rows = conn.execute(text("SELECT name, schedule, runs FROM scheduled_jobs ORDER BY name"))
        assert [tuple(r) for r in rows] == [
            ("poller:ct-self", "every 60 s", 3),
            ("poller:github-ci", "every 300 s", 3),
        ]
        conn.execute(
            text("INSERT INTO scheduled_jobs (name, schedule, runs) VALUES ('digest', :s, 1)"),
            {"s": "daily at 08:00 Europe/London"},
        )

    downgrade(fresh_engine, "0007")
    with fresh_engine.connect() as conn:
        rows = conn.execute(text("SELECT name, interval_seconds FROM scheduled_jobs ORDER BY name"))
        # The calendar job has no interval to go back to: its row goes.
        assert [tuple(r) for r in rows] == [("poller:ct-self", 60), ("poller:github-ci", 300)]
    upgrade(fresh_engine)
