"""Export → verify → restore into an empty store, on each store and across them (a PostgreSQL
backup into SQLite and back): the same rows, the same file bytes, the audit chain intact, and
PostgreSQL sequences moved on so later inserts do not collide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from control_tower.audit import chain
from control_tower.backups.destination import Location
from control_tower.backups.export import write_backup
from control_tower.backups.service import take_backup
from control_tower.catalog import Catalog
from control_tower.cli.main import app as cli
from control_tower.db import unit_of_work
from control_tower.ingest.internal import emit_events
from control_tower.kit.clock import FrozenClock
from control_tower.migrate import alembic_config, current, upgrade
from control_tower.models import events, run_notes, runs
from control_tower.routing.router import Router
from control_tower.runs.service import add_note
from tests.backups.conftest import (
    AWKWARD_PAYLOAD,
    EmptyStore,
    digest_bytes,
    populate,
    store_rows,
)
from tests.conftest import TEST_MASTER_KEY, backends
from tests.helpers import Emit, cli_env


def restore_with_cli(url: str, backup: str, data_dir: Path) -> str:
    result = CliRunner().invoke(
        cli, ["restore", backup], env=cli_env(url, data_dir, TEST_MASTER_KEY)
    )
    assert result.exit_code == 0, result.output
    return result.output


def audit_verify_with_cli(url: str, data_dir: Path) -> str:
    result = CliRunner().invoke(
        cli, ["audit", "verify"], env=cli_env(url, data_dir, TEST_MASTER_KEY)
    )
    assert result.exit_code == 0, result.output
    return result.output


def file_hashes(location: Location) -> dict[str, str]:
    manifest = location.read_manifest()
    return {t.name: t.sha256 for t in manifest.tables}


@pytest.mark.parametrize("target", backends())
def test_restore_into_an_empty_store_and_back(
    backend: str,
    target: str,
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    empty_store: EmptyStore,
    engines: Callable[[str], Engine],
    tmp_path: Path,
) -> None:
    populate(engine, catalog, clock, emit, router)
    original = store_rows(engine)
    for table in ("events", "run_transitions", "run_notes", "audit_log", "tokens"):
        assert original[table], table
    assert original["system_status_changes"]
    destination = Location.parse(str(tmp_path / "backups"))
    first = take_backup(engine, destination, clock, initiator="test")
    assert first.verified, first.problems

    # The backup into an empty store of the target kind, by `ct restore`.
    there_url = empty_store(target)
    output = restore_with_cli(there_url, first.location.url, tmp_path / "data")
    assert "audit chain intact" in output
    assert "audit chain intact" in audit_verify_with_cli(there_url, tmp_path / "data")
    there = engines(there_url)
    assert store_rows(there) == original
    awkward = [r for r in store_rows(there)["events"] if r["event_id"] == "awkward-1"]
    assert awkward[0]["payload"] == AWKWARD_PAYLOAD
    london = ZoneInfo("Europe/London")
    for days_ago in (1, 2):  # past dates the store has events, runs and status changes for
        day = (clock.now() - timedelta(days=days_ago)).astimezone(london).date()
        assert digest_bytes(there, catalog, day) == digest_bytes(engine, catalog, day)

    # Backed up again there, the same rows give the same bytes, file by file.
    second = take_backup(there, destination, clock, initiator="test")
    assert second.verified, second.problems
    assert file_hashes(second.location) == file_hashes(first.location)

    # And back into the first kind of store.
    back_url = empty_store(backend)
    restore_with_cli(back_url, second.location.url, tmp_path / "data")
    assert store_rows(engines(back_url)) == original


def test_later_inserts_do_not_collide_after_a_restore(
    backend: str,
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    empty_store: EmptyStore,
    engines: Callable[[str], Engine],
    tmp_path: Path,
) -> None:
    populate(engine, catalog, clock, emit, router)
    backup = take_backup(engine, Location.parse(str(tmp_path / "b")), clock, initiator="test")
    restored_url = empty_store(backend)
    restore_with_cli(restored_url, backup.location.url, tmp_path / "data")
    restored = engines(restored_url)
    with unit_of_work(restored) as conn:
        top_event = conn.execute(select(events.c.seq).order_by(events.c.seq.desc())).scalar()
        top_note = conn.execute(select(run_notes.c.seq).order_by(run_notes.c.seq.desc())).scalar()
        run_id = conn.execute(select(runs.c.run_id)).scalars().first()
        raw = {
            "event_id": "after-restore",
            "type": "system.heartbeat",
            "source": "backend",
            "occurred_at": clock.now().isoformat(),
            "payload": {"system_id": "backend"},
        }
        emit_events(conn, catalog, [raw], producer="test", now=clock.now())
        assert run_id is not None
        add_note(conn, run_id, "after the restore", author="ops-person", now=clock.now())
        new_event = conn.execute(
            select(events.c.seq).where(events.c.event_id == "after-restore")
        ).scalar_one()
        new_note = conn.execute(select(run_notes.c.seq).order_by(run_notes.c.seq.desc())).scalar()
    assert top_event is not None
    assert top_note is not None
    assert new_event == top_event + 1
    assert new_note == top_note + 1
    assert "audit chain intact" in audit_verify_with_cli(restored_url, tmp_path / "data")


def test_a_backup_of_an_older_schema_restores_and_is_upgraded(
    backend: str,
    clock: FrozenClock,
    empty_store: EmptyStore,
    engines: Callable[[str], Engine],
    tmp_path: Path,
) -> None:
    old = engines(empty_store(backend))
    upgrade(old, "0012")  # before the backups' own table existed
    with unit_of_work(old) as conn:
        chain.append(conn, at=clock.now(), actor="test", action="test.old", target="x")
    folder, manifest = write_backup(old, Location.parse(str(tmp_path / "b")), clock.now())
    assert manifest.schema_revision == "0012"
    assert "backup_runs" in manifest.absent_tables
    restored_url = empty_store(backend)
    restore_with_cli(restored_url, folder.url, tmp_path / "data")
    restored = engines(restored_url)
    assert current(restored) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert store_rows(restored)["audit_log"] == store_rows(old)["audit_log"]
    assert store_rows(restored)["backup_runs"] == []
