"""A tampered backup is refused by `ct backup verify` (exit code 1, saying what is wrong) and
by `ct restore` (nothing restored): one byte changed, a row removed, a manifest edited, and an
audit row rewritten by someone who also fixed every checksum."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from control_tower.backups.destination import Location
from control_tower.backups.manifest import Manifest
from control_tower.backups.service import take_backup
from control_tower.catalog import Catalog
from control_tower.cli.main import app as cli
from control_tower.db import build_engine
from control_tower.kit.canonical import sha256_hex
from control_tower.kit.clock import FrozenClock
from control_tower.routing.router import Router
from tests.backups.conftest import EmptyStore, populate, store_rows
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Emit, cli_env


def flip_one_byte(folder: Path) -> str:
    path = folder / "events.jsonl.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return "events.jsonl.gz"


def remove_a_row(folder: Path) -> str:
    path = folder / "run_notes.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[1:]), mtime=0))
    return "run_notes.jsonl.gz"


def edit_the_manifest(folder: Path) -> str:
    path = folder / "manifest.json"
    body = json.loads(path.read_text())
    for table in body["tables"]:
        if table["name"] == "events":
            table["rows"] -= 1
    path.write_text(json.dumps(body, indent=2))
    return "manifest.json"


def rewrite_an_audit_row_and_every_checksum(folder: Path) -> str:
    """A careful forger: changes who did something, then recomputes the file's sha256 and the
    manifest's own checksum. Only the audit chain can tell."""
    path = folder / "audit_log.jsonl.gz"
    rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    rows[0]["actor"] = "someone-else"
    data = gzip.compress(
        b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in rows), mtime=0
    )
    path.write_bytes(data)
    body = json.loads((folder / "manifest.json").read_text())
    body.pop("checksum")
    for table in body["tables"]:
        if table["name"] == "audit_log":
            table["sha256"], table["bytes"] = sha256_hex(data), len(data)
    forged = Manifest.model_validate(body).to_bytes()
    (folder / "manifest.json").write_bytes(forged)
    return "audit chain"


TAMPERINGS: dict[str, tuple[Callable[[Path], str], str]] = {
    "one byte changed": (flip_one_byte, "events.jsonl.gz"),
    "a row removed": (remove_a_row, "run_notes.jsonl.gz"),
    "manifest edited": (edit_the_manifest, "manifest.json was changed"),
    "audit row rewritten": (rewrite_an_audit_row_and_every_checksum, "audit chain broken"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_backup_is_refused_by_verify_and_restore(
    tampering: str,
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    empty_store: EmptyStore,
    tmp_path: Path,
) -> None:
    populate(engine, catalog, clock, emit, router)
    outcome = take_backup(engine, Location.parse(str(tmp_path / "b")), clock, initiator="test")
    folder = Path(outcome.location.path)
    env = cli_env(empty_store("sqlite"), tmp_path / "data", TEST_MASTER_KEY)
    runner = CliRunner()
    intact = runner.invoke(cli, ["backup", "verify", str(folder)], env=env)
    assert intact.exit_code == 0, intact.output
    assert "backup intact" in intact.output

    tamper, expected = TAMPERINGS[tampering]
    tamper(folder)

    refused = runner.invoke(cli, ["backup", "verify", str(folder)], env=env)
    assert refused.exit_code == 1, refused.output
    assert "NOT intact" in refused.output
    assert expected in refused.output

    target_url = env["CT_DATABASE_URL"]
    restored = runner.invoke(cli, ["restore", str(folder / "manifest.json")], env=env)
    assert restored.exit_code == 1, restored.output
    assert "is not intact" in restored.output
    assert expected in restored.output
    target = build_engine(target_url)
    try:  # refused before anything was written: the empty store is still empty
        assert inspect(target).get_table_names() == []
    finally:
        target.dispose()


def test_restore_refuses_a_store_that_is_not_empty(
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    tmp_path: Path,
    database_url: str,
) -> None:
    populate(engine, catalog, clock, emit, router)
    outcome = take_backup(engine, Location.parse(str(tmp_path / "b")), clock, initiator="test")
    before = store_rows(engine)
    env = cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY)
    result = CliRunner().invoke(cli, ["restore", outcome.location.url], env=env)
    assert result.exit_code == 1, result.output
    assert "the store is not empty" in result.output
    assert "events has" in result.output
    assert store_rows(engine) == before
