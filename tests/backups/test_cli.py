"""The `ct backup` commands end to end on an in-memory filesystem (fsspec `memory://`), and on
the default destination under CT_DATA_DIR."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from control_tower.catalog import Catalog
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from control_tower.models import backup_runs
from control_tower.routing.router import Router
from tests.backups.conftest import EmptyStore, populate, store_rows
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Emit, cli_env


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"memory://ct-test-{uuid.uuid4().hex[:8]}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_backup_list_verify_and_restore_on_a_memory_filesystem(
    backend: str,
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    database_url: str,
    empty_store: EmptyStore,
    engines: Callable[[str], Engine],
    memory_root: str,
    tmp_path: Path,
) -> None:
    populate(engine, catalog, clock, emit, router)
    original = store_rows(engine)
    runner = CliRunner()
    env = cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY)

    taken = runner.invoke(cli, ["backup", "--to", memory_root], env=env)
    assert taken.exit_code == 0, taken.output
    assert f"backup written: {memory_root.replace('://', ':///')}/ct-" in taken.output
    assert "read back and verified" in taken.output

    listed = runner.invoke(cli, ["backup", "list", "--at", memory_root, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.output)
    [backup] = body["backups"]
    assert backup["kept_by"] == ["daily", "weekly", "monthly", "newest"]
    assert {"events", "audit_log", "runs"} <= {t["name"] for t in backup["manifest"]["tables"]}
    assert body["last_successful_backup_at"] is not None
    shown = runner.invoke(cli, ["backup", "list", "--at", memory_root], env=env)
    assert shown.exit_code == 0, shown.output
    assert backup["name"] in shown.output
    assert "kept: daily, weekly, monthly" in shown.output

    verified = runner.invoke(cli, ["backup", "verify", backup["location"]], env=env)
    assert verified.exit_code == 0, verified.output
    assert "ok  events" in verified.output

    target = empty_store(backend)
    restored = runner.invoke(
        cli, ["restore", backup["location"]], env=cli_env(target, tmp_path / "d2", TEST_MASTER_KEY)
    )
    assert restored.exit_code == 0, restored.output
    assert store_rows(engines(target)) == original


def test_backup_goes_to_the_data_dir_by_default(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY)
    result = CliRunner().invoke(cli, ["backup"], env=env)
    assert result.exit_code == 0, result.output
    [folder] = (tmp_path / "data" / "backups").iterdir()
    assert (folder / "manifest.json").is_file()
    assert (folder / "events.jsonl.gz").is_file()
    assert str(folder) in result.output


@pytest.mark.parametrize("where", ["under-a-file", "nosuchfs://bucket/ct"])
def test_an_unreachable_destination_is_one_line_and_recorded(
    where: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    if where == "under-a-file":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        where = str(blocker / "backups")
    env = cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY)
    result = CliRunner().invoke(cli, ["backup", "--to", where], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    with engine.connect() as conn:
        recorded = conn.execute(select(backup_runs.c.status, backup_runs.c.location)).all()
    assert [(r.status, r.location) for r in recorded] == [("failed", where)]


def test_verify_names_a_folder_that_is_not_a_backup(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["backup", "verify", str(tmp_path)])
    assert result.exit_code == 1
    assert "no manifest.json" in result.output
