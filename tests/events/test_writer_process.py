"""Commits in a writer child process: what happens when it dies, and what it carries."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select, text

from control_tower.db import build_engine, write_lock
from control_tower.events.group_commit import PROCESS_MAX_ROWS, GroupCommitter
from control_tower.events.writer_process import WriterConfig
from control_tower.kit.errors import Unavailable
from control_tower.kit.json_text import loads_text
from control_tower.models import event_routes, events
from tests.events.test_group_commit import row
from tests.helpers import process_running, wait_for
from tests.servers import child_processes, run_server

T = TypeVar("T")


def committing(committer: GroupCommitter, scenario: Callable[[GroupCommitter], Awaitable[T]]) -> T:
    """Run `scenario` against the started committer, then stop it."""

    async def run() -> T:
        await committer.start()
        try:
            return await scenario(committer)
        finally:
            await committer.stop()

    return asyncio.run(run())


def with_committer(
    engine: Engine, database_url: str, scenario: Callable[[GroupCommitter], Awaitable[T]]
) -> T:
    return committing(GroupCommitter(engine, writer_process=WriterConfig(database_url)), scenario)


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def test_events_are_committed_with_their_routing_jobs(engine: Engine, database_url: str) -> None:
    async def scenario(committer: GroupCommitter) -> list[str]:
        first = await committer.submit([row("p-1"), row("p-2")])
        again = await committer.submit([row("p-1"), dict(row("p-2"), payload_sha256="x" * 64)])
        return [o.kind for o in first + again]

    kinds = with_committer(engine, database_url, scenario)
    assert kinds == ["accepted", "accepted", "duplicate", "conflict"]
    with engine.connect() as conn:
        routed = set(conn.execute(select(event_routes.c.event_id)).scalars())
    assert routed == stored_ids(engine) == {"p-1", "p-2"}


def test_a_child_that_died_between_commits_is_replaced(engine: Engine, database_url: str) -> None:
    async def scenario(committer: GroupCommitter) -> tuple[str, str, int, int]:
        [before] = await committer.submit([row("before")])
        [pid] = committer.writer_pids()
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: not process_running(pid))
        [after] = await committer.submit([row("after")])  # no 503: nothing was in flight
        [new_pid] = committer.writer_pids()
        return before.kind, after.kind, pid, new_pid

    before, after, pid, new_pid = with_committer(engine, database_url, scenario)
    assert (before, after) == ("accepted", "accepted")
    assert new_pid != pid
    assert stored_ids(engine) == {"before", "after"}


def hold_store(engine: Engine, backend: str) -> Any:
    """A context that makes the child's next commit wait: SQLite's write lock (the flock every
    CT process takes), or on PostgreSQL a table lock that blocks inserts into events."""
    if backend == "sqlite":
        return write_lock(engine)

    class TableLock:
        def __enter__(self) -> None:
            self.conn = engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))

        def __exit__(self, *_: object) -> None:
            self.tx.rollback()
            self.conn.close()

    return TableLock()


def test_a_child_killed_during_a_commit_fails_that_commit_only(
    engine: Engine, database_url: str, backend: str
) -> None:
    async def scenario(committer: GroupCommitter) -> tuple[BaseException | None, str, str]:
        [pid] = committer.writer_pids()
        failure: BaseException | None = None
        with hold_store(engine, backend):
            pending = asyncio.ensure_future(committer.submit([row("in-flight")]))
            await asyncio.sleep(0.5)  # the child is inside the commit, waiting for the store
            assert not pending.done()
            os.kill(pid, signal.SIGKILL)
            try:
                await asyncio.wait_for(pending, 30)
            except Unavailable as exc:
                failure = exc
        [retried] = await committer.submit([row("in-flight")])  # the producer's retry
        [later] = await committer.submit([row("later")])
        return failure, retried.kind, later.kind

    failure, retried, later = with_committer(engine, database_url, scenario)
    assert isinstance(failure, Unavailable)  # a 503, never a hang or a false 2xx
    assert (retried, later) == ("accepted", "accepted")  # the killed commit stored nothing
    assert stored_ids(engine) == {"in-flight", "later"}


def test_when_a_child_dies_under_a_shared_commit_each_request_is_committed_alone(
    engine: Engine, database_url: str, backend: str
) -> None:
    """Two requests in one commit, the child killed inside it: they are not failed together,
    each is committed on its own on a new child (and then a third commit finds a writer)."""

    async def scenario(committer: GroupCommitter) -> tuple[list[str], int, int]:
        [pid] = committer.writer_pids()
        with hold_store(engine, backend):
            pending = [asyncio.ensure_future(committer.submit([row(name)])) for name in ("a", "b")]
            await asyncio.sleep(0.5)  # both in the child's commit, waiting for the store
            os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)  # the recovery starts a new child, which waits too
        kinds = [(await asyncio.wait_for(p, 30))[0].kind for p in pending]
        [later] = await committer.submit([row("later")])
        kinds.append(later.kind)
        [new_pid] = committer.writer_pids()
        return kinds, pid, new_pid

    kinds, pid, new_pid = with_committer(engine, database_url, scenario)
    assert kinds == ["accepted", "accepted", "accepted"]
    assert new_pid != pid
    assert stored_ids(engine) == {"a", "b", "later"}


def test_payload_values_cross_the_process_boundary_exactly(
    engine: Engine, database_url: str
) -> None:
    payload = {"big": 2**70, "neg": -(2**65), "text": 'é ✓ \\ "q"', "nested": [{"a": None}]}

    async def scenario(committer: GroupCommitter) -> str:
        [outcome] = await committer.submit([dict(row("exact"), payload=payload)])
        return outcome.kind

    assert with_committer(engine, database_url, scenario) == "accepted"
    with engine.connect() as conn:
        query = text("SELECT payload FROM events WHERE event_id = 'exact'")
        stored = conn.execute(query).scalar_one()
    assert (loads_text(stored) if isinstance(stored, str) else stored) == payload


def test_stop_ends_the_child(engine: Engine, database_url: str) -> None:
    pids: list[int] = []

    async def scenario(committer: GroupCommitter) -> None:
        pids.extend(committer.writer_pids())
        await committer.submit([row("one")])

    with_committer(engine, database_url, scenario)
    assert pids
    assert not any(process_running(pid) for pid in pids)


def test_a_store_the_child_cannot_open_gives_503(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'ct.sqlite3'}")
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'ct.sqlite3'}"

    async def scenario(committer: GroupCommitter) -> BaseException | None:
        try:
            await committer.submit([row("nowhere")])
        except Unavailable as exc:
            return exc
        return None

    assert isinstance(with_committer(engine, url, scenario), Unavailable)
    engine.dispose()


def test_large_commits_run_in_a_thread(engine: Engine, database_url: str) -> None:
    # A commit's GIL hand-offs are shared by its rows: from PROCESS_MAX_ROWS rows on, sending
    # them to the child would cost more than the hand-offs (group_commit.py).
    large = [row(f"big-{i}") for i in range(PROCESS_MAX_ROWS)]

    async def scenario(committer: GroupCommitter) -> tuple[int, int, list[str]]:
        small = await committer.submit([row("small")])
        big = await committer.submit(large)
        kinds = sorted({o.kind for o in small + big})
        return committer.commits, committer.process_commits, kinds

    commits, in_process, kinds = with_committer(engine, database_url, scenario)
    assert (commits, in_process, kinds) == (2, 1, ["accepted"])
    assert len(stored_ids(engine)) == PROCESS_MAX_ROWS + 1


def test_writer_children_end_when_ct_serve_is_killed(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(server_env, CT_INGEST_WRITER="process")  # PostgreSQL's default is `loop`
    with run_server(env, tmp_path / "logs") as server:
        children = wait_for(lambda: child_processes(server, b"control_tower.events.writer_process"))
        os.kill(server.process.pid, signal.SIGKILL)  # the API only: its children see EOF
        server.process.wait(timeout=10)
        wait_for(lambda: not any(process_running(pid) for pid in children))
