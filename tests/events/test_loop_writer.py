"""Commits on the event loop (PostgreSQL's default): connections that die, and the contract."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, select

from control_tower.db import libpq_conninfo
from control_tower.events.group_commit import GroupCommitter
from control_tower.models import events
from tests.events.test_group_commit import row
from tests.events.test_writer_process import committing, hold_store

T = TypeVar("T")


def on_loop(engine: Engine, scenario: Callable[[GroupCommitter], Awaitable[T]]) -> T:
    return committing(GroupCommitter(engine, on_loop=True), scenario)


def terminate(engine: Engine, pid: int) -> None:
    with psycopg.connect(libpq_conninfo(engine), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def ingest_backends(engine: Engine) -> list[int]:
    with psycopg.connect(libpq_conninfo(engine), autocommit=True) as admin:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = 'ct-ingest'"
        return [pid for (pid,) in admin.execute(query)]


def stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(events.c.event_id)).scalars())


def refused_on_sqlite(engine: Engine) -> bool:
    """True (after checking the refusal) on SQLite, where commits cannot run on the loop."""
    if engine.dialect.name != "sqlite":
        return False
    with pytest.raises(ValueError, match="need PostgreSQL"):
        GroupCommitter(engine, on_loop=True)
    return True


def test_sqlite_refuses_commits_on_the_loop(engine: Engine) -> None:
    if refused_on_sqlite(engine):
        return

    async def scenario(committer: GroupCommitter) -> list[str]:
        return [o.kind for o in await committer.submit([row("loop-1"), row("loop-1")])]

    assert on_loop(engine, scenario) == ["accepted", "duplicate"]
    assert stored(engine) == ["loop-1"]


def test_a_connection_that_died_idle_is_replaced_without_a_503(
    engine: Engine,
) -> None:
    if refused_on_sqlite(engine):
        return

    async def scenario(committer: GroupCommitter) -> tuple[list[str], int, int]:
        [first] = await committer.submit([row("before")])
        [pid] = committer.loop_backend_pids()
        await asyncio.to_thread(terminate, engine, pid)
        [second] = await committer.submit([row("after")])
        [new_pid] = committer.loop_backend_pids()
        return [first.kind, second.kind], pid, new_pid

    kinds, pid, new_pid = on_loop(engine, scenario)
    assert kinds == ["accepted", "accepted"]
    assert new_pid != pid
    assert stored(engine) == ["after", "before"]


def test_a_connection_killed_during_a_commit_is_retried_once_and_stores_once(
    engine: Engine, backend: str
) -> None:
    if refused_on_sqlite(engine):
        return

    async def scenario(committer: GroupCommitter) -> list[str]:
        with hold_store(engine, backend):
            pending = asyncio.ensure_future(committer.submit([row("in-flight")]))
            await asyncio.sleep(0.5)  # the statement waits for the table lock
            [pid] = await asyncio.to_thread(ingest_backends, engine)
            await asyncio.to_thread(terminate, engine, pid)
            await asyncio.sleep(0.5)  # the retry waits for the lock too
        outcome = await asyncio.wait_for(pending, 30)
        again = await committer.submit([row("in-flight")])  # the producer's own retry
        return [outcome[0].kind, again[0].kind]

    assert on_loop(engine, scenario) == ["accepted", "duplicate"]
    assert stored(engine) == ["in-flight"]
