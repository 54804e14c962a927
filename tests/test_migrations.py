"""One Alembic tree: it builds an empty store, matches the models, and runs from the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from control_tower.cli.main import app as cli
from control_tower.db import build_engine
from control_tower.migrate import alembic_config, current, upgrade
from control_tower.models import metadata
from tests.conftest import PG_ADMIN_DSN, TEST_MASTER_KEY


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A store with no tables at all, on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"ct_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+psycopg://{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_engine(empty_database_url: str) -> Iterator[Engine]:
    eng = build_engine(empty_database_url)
    yield eng
    eng.dispose()


def test_upgrade_head_on_an_empty_store_creates_every_table(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    upgrade(empty_engine)
    assert current(empty_engine) == head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    upgrade(empty_engine)  # a second upgrade is a no-op, not an error
    assert current(empty_engine) == head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite"},
        )
        drift = compare_metadata(context, metadata)
    assert drift == []


def test_ct_db_upgrade_migrates_an_empty_store(
    empty_database_url: str, empty_engine: Engine, tmp_path: Path
) -> None:
    env = {
        "CT_DATABASE_URL": empty_database_url,
        "CT_DATA_DIR": str(tmp_path / "data"),
        "CT_SECRET_KEY": TEST_MASTER_KEY,
    }
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    assert current(empty_engine) == head_revision()
    shown = CliRunner().invoke(cli, ["db", "current"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == head_revision()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    eng = build_engine(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    try:
        with eng.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30000
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL by default
    finally:
        eng.dispose()
