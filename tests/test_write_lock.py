"""SQLite writers queue on CT's own lock (threads and processes), not in SQLite's busy handler."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import Engine, text

from control_tower.db import SqliteWriteLock, unit_of_work, write_lock


def test_a_write_transaction_holds_the_process_lock_on_sqlite_only(
    backend: str, engine: Engine
) -> None:
    lock = write_lock(engine)
    with unit_of_work(engine, write=True) as conn:
        conn.execute(text("SELECT 1"))
        if backend == "sqlite":
            assert lock is write_lock(engine)  # one lock per engine
            assert isinstance(lock, SqliteWriteLock)
            assert lock.locked()
        else:
            assert not hasattr(lock, "locked")  # PostgreSQL: no lock at all
    with unit_of_work(engine, write=False) as conn:
        conn.execute(text("SELECT 1"))
        if backend == "sqlite":
            assert not lock.locked(), "a read must not take the writers' lock"
    if backend == "sqlite":
        assert not lock.locked()


def test_the_lock_is_released_when_the_transaction_fails(backend: str, engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine, write=True):
        raise RuntimeError("boom")
    if backend == "sqlite":
        assert not write_lock(engine).locked()
    with unit_of_work(engine, write=True) as conn:  # and the next writer gets in
        conn.execute(text("SELECT 1"))


def test_on_sqlite_a_second_writer_waits_for_the_first_to_commit(
    backend: str, engine: Engine
) -> None:
    """On PostgreSQL, writers that touch different rows go on side by side."""
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait()
        with unit_of_work(engine, write=True):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with unit_of_work(engine, write=True):
        order.append("first")
        first_in.set()
        if backend == "sqlite":
            thread.join(timeout=0.3)
            assert thread.is_alive(), "the second writer got in while the first was open"
        else:
            thread.join()
        order.append("first commits")
    thread.join()
    expected = ["first", "first commits", "second"]
    assert order == (expected if backend == "sqlite" else ["first", "second", "first commits"])


HOLDER = """
import sys
from control_tower.db import build_engine, write_lock
engine = build_engine(sys.argv[1])
with write_lock(engine):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_on_sqlite_a_writer_in_another_process_waits_for_the_lock(
    backend: str, engine: Engine, database_url: str
) -> None:
    """The other process holds only CT's lock, no SQLite transaction: only the lock stops us."""
    if backend != "sqlite":
        assert not hasattr(write_lock(engine), "locked")
        return
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        hold_then_release(holder, engine)


def hold_then_release(holder: subprocess.Popen[str], engine: Engine) -> None:
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        done = threading.Event()

        def write() -> None:
            with unit_of_work(engine, write=True) as conn:
                conn.execute(text("SELECT 1"))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(timeout=0.5), (
            "the write went ahead while another process held the lock"
        )
        holder.stdin.write("release\n")
        holder.stdin.flush()
        writer.join(timeout=60)
        assert done.is_set()
    finally:
        if holder.poll() is None:
            holder.kill()
