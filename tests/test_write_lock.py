"""Writers in one process queue on a lock of their own on SQLite, not in SQLite's busy handler."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from control_tower.db import unit_of_work, write_lock


def test_a_write_transaction_holds_the_process_lock_on_sqlite_only(
    backend: str, engine: Engine
) -> None:
    lock = write_lock(engine)
    with unit_of_work(engine, write=True) as conn:
        conn.execute(text("SELECT 1"))
        if backend == "sqlite":
            assert lock is write_lock(engine)  # one lock per engine
            assert isinstance(lock, type(threading.Lock()))
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
