"""Ingest commits on the API's own event loop (PostgreSQL): psycopg's async connections.

No thread and no child process: the loop sends the batch's one INSERT statement and goes on
serving requests until PostgreSQL answers, as it does for the shared rate limiter. A thread
had to win the interpreter lock back from the busy loop at every driver call; a child process
(`writer_process.py`) avoids that but puts two more processes and four wake-ups in every
commit's path, each a wait for a CPU when the host is busy (docs/benchmarks.md). The
connections are autocommit: `insert_events_async` is one statement, so each commit is atomic
and durable (WAL flushed, `synchronous_commit` stays on) when PostgreSQL answers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from control_tower.events.repository import InsertOutcome, insert_events_async


class LoopWriter:
    """Up to as many connections as commits in flight (the group committer bounds those)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._idle: list[psycopg.AsyncConnection[Any]] = []

    async def write(self, rows: Sequence[dict[str, Any]]) -> list[InsertOutcome]:
        """Commit `rows`. A connection that dies (idle, or during the statement) is replaced
        and the statement sent once more: it skips what the first attempt may have stored,
        so those events are answered as duplicates, never stored twice."""
        try:
            return await self._write_once(rows)
        except psycopg.OperationalError:
            return await self._write_once(rows)

    async def _write_once(self, rows: Sequence[dict[str, Any]]) -> list[InsertOutcome]:
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            outcomes = await insert_events_async(conn, rows)
        except BaseException:
            # A dead, refused or interrupted statement leaves the connection in doubt.
            await conn.close()
            raise
        self._idle.append(conn)
        return outcomes

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name="ct-ingest"
        )

    def pids(self) -> list[int]:
        """The PostgreSQL backends of the idle connections (tests end them)."""
        return [conn.info.backend_pid for conn in self._idle]

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
