"""The audit log is a hash chain that the database itself keeps append-only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from control_tower.audit import chain
from control_tower.cli.main import app as cli
from control_tower.db import unit_of_work
from control_tower.models import audit_log
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import cli_env

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def append_rows(engine: Engine, count: int) -> None:
    for i in range(count):
        with unit_of_work(engine) as conn:
            chain.append(
                conn,
                at=START + timedelta(seconds=i, microseconds=123_456),
                actor="test",
                action="note.added",
                target=f"run:{i}",
                # Values that a JSON column could alter on the way back: floats, big ints,
                # non-ASCII text, key order.
                details={"z": i, "a": 0.1, "big": 2**53 + 1, "text": "café ✓", "none": None},
            )


def test_appended_rows_form_a_chain_that_verifies(engine: Engine) -> None:
    append_rows(engine, 5)
    with unit_of_work(engine, write=False) as conn:
        result = chain.verify(conn)
        rows = list(conn.execute(select(audit_log).order_by(audit_log.c.seq)))
    assert result == chain.VerifyResult(ok=True, rows=5)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == chain.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(rows))


def test_ct_audit_verify_passes_on_an_intact_chain(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    append_rows(engine, 3)
    result = CliRunner().invoke(
        cli, ["audit", "verify"], env=cli_env(database_url, tmp_path, TEST_MASTER_KEY)
    )
    assert result.exit_code == 0, result.output
    assert "intact: 3 rows" in result.output


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"],
)
def test_the_database_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    append_rows(engine, 2)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with unit_of_work(engine, write=False) as conn:
        assert chain.verify(conn).ok
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 2


def test_the_database_refuses_emptying_the_log(engine: Engine) -> None:
    append_rows(engine, 2)
    # PostgreSQL has TRUNCATE (a statement trigger); SQLite empties a table with DELETE.
    statement = (
        "TRUNCATE audit_log" if engine.dialect.name == "postgresql" else "DELETE FROM audit_log"
    )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with unit_of_work(engine, write=False) as conn:
        assert chain.verify(conn) == chain.VerifyResult(ok=True, rows=2)


def tamper(conn: Connection, statement: str) -> None:
    """Change audit_log behind CT's back, getting past the append-only trigger."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(text(statement))


def test_ct_audit_verify_names_a_row_edited_behind_cts_back(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    append_rows(engine, 4)
    with engine.begin() as conn:
        tamper(conn, "UPDATE audit_log SET target = 'run:forged' WHERE seq = 3")
    result = CliRunner().invoke(
        cli, ["audit", "verify"], env=cli_env(database_url, tmp_path, TEST_MASTER_KEY)
    )
    assert result.exit_code == 1, result.output
    assert "BROKEN at row 3" in result.output
    assert "content does not match its hash" in result.output


def test_verify_names_the_row_after_a_deleted_one(engine: Engine) -> None:
    append_rows(engine, 4)
    with engine.begin() as conn:
        tamper(conn, "DELETE FROM audit_log WHERE seq = 2")
    with unit_of_work(engine, write=False) as conn:
        result = chain.verify(conn)
    assert not result.ok
    assert result.first_bad_seq == 3


def test_verify_notices_the_newest_row_removed(engine: Engine) -> None:
    append_rows(engine, 3)
    with engine.begin() as conn:
        tamper(conn, "DELETE FROM audit_log WHERE seq = 3")
    with unit_of_work(engine, write=False) as conn:
        result = chain.verify(conn)
    assert not result.ok
    assert result.problem == "chain tip does not match the head record"


def test_concurrent_appends_keep_the_chain_intact(engine: Engine) -> None:
    threads_count, per_thread = 8, 10
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_count)

    def worker(worker_id: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with unit_of_work(engine) as conn:
                    chain.append(
                        conn,
                        at=START,
                        actor=f"worker-{worker_id}",
                        action="note.added",
                        target=f"run:{worker_id}-{i}",
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with unit_of_work(engine, write=False) as conn:
        result = chain.verify(conn)
        targets = {r.target for r in conn.execute(select(audit_log.c.target))}
    assert result == chain.VerifyResult(ok=True, rows=threads_count * per_thread)
    assert len(targets) == threads_count * per_thread
