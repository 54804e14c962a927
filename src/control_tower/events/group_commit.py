"""Group commit: requests queue their rows, one writer commits many in one transaction.

Each HTTP request waits for the commit that holds its rows before it is answered, so a 2xx is
only ever sent for an event that is durable. Committing many requests at once amortises the
cost of a transaction (an fsync on SQLite, a round trip and WAL flush on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from control_tower.db import WRITE_OPTION, write_lock
from control_tower.events.repository import AfterInsert, InsertOutcome, insert_events
from control_tower.kit.errors import Unavailable

log = structlog.get_logger(__name__)

_Item = tuple[Sequence[dict[str, Any]], "asyncio.Future[list[InsertOutcome]]"]


class GroupCommitter:
    def __init__(
        self, engine: Engine, max_events: int = 1000, after_insert: AfterInsert | None = None
    ) -> None:
        self._engine = engine
        self._max_events = max_events
        self._after_insert = after_insert
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        # The writer's own connection, used only on its thread: no pool checkout, liveness
        # ping or reset per commit. Dropped after an error and opened again on the next one.
        self._conn: Connection | None = None
        self.commits = 0
        self.on_commit: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        # One thread of its own: commits never wait behind the shared pool that runs sync
        # routes, and one writer per process is all SQLite can use anyway.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ct-group-commit")
        self._task = asyncio.create_task(self._run(), name="ct-group-commit")

    async def stop(self) -> None:
        if self._queue is None or self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
            self._thread.shutdown(wait=True)
        self._queue = None
        self._task = None
        self._thread = None

    async def submit(self, rows: Sequence[dict[str, Any]]) -> list[InsertOutcome]:
        if self._queue is None:
            raise Unavailable("ingest is not running", code="ingest_stopped")
        future: asyncio.Future[list[InsertOutcome]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, future))
        return await future

    def _write(self, rows: list[dict[str, Any]]) -> list[InsertOutcome]:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(**{WRITE_OPTION: True})
        try:
            with write_lock(self._engine), self._conn.begin():
                return insert_events(self._conn, rows, self._after_insert)
        except Exception:
            self._close()
            raise

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def _run(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            size = len(item[0])
            while size < self._max_events and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                size += len(nxt[0])
            await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        rows = [row for item_rows, _ in batch for row in item_rows]
        try:
            loop = asyncio.get_running_loop()
            outcomes = await loop.run_in_executor(self._thread, self._write, rows)
        except Exception as exc:
            log.error("group_commit_failed", events=len(rows), error=type(exc).__name__)
            if len(batch) > 1:
                # One request's rows must not fail the others: commit each request alone.
                for item in batch:
                    await self._commit([item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(
                        Unavailable("the store did not accept the event; retry", code="store_error")
                    )
            return
        self.commits += 1
        for callback in self.on_commit:
            callback()
        offset = 0
        for item_rows, future in batch:
            part = outcomes[offset : offset + len(item_rows)]
            offset += len(item_rows)
            if not future.done():
                future.set_result(part)
