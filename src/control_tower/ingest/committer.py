"""Group commit: requests queue their rows, one writer thread commits many in one transaction.

Each request waits for the commit that holds its rows before it is answered, so a 2xx is only
ever sent for an event that is durable. Rows that arrive while a commit is in flight join the
next one, which amortises a transaction's fixed cost (an fsync on SQLite, a WAL flush on
PostgreSQL) over everything that arrived meanwhile. The same on both stores: SQLite takes one
writer at a time anyway, and on PostgreSQL one writer keeps up with the load CT is built for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine

from control_tower.db import WRITE_OPTION, write_lock
from control_tower.ingest.repository import InsertOutcome, insert_events
from control_tower.kit.errors import StoreUnavailable
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.models.events import EventRow

log = structlog.get_logger(__name__)

_Request = tuple[Sequence[EventRow], "asyncio.Future[list[InsertOutcome]]"]


class Committer(Protocol):
    """Stores rows durably before it answers; what the ingest endpoints depend on."""

    async def submit(self, rows: Sequence[EventRow]) -> list[InsertOutcome]: ...


class GroupCommitter:
    def __init__(self, engine: Engine, max_events: int = 5000) -> None:
        self._engine = engine
        self._max_events = max_events
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None  # used by the writer thread only
        self._failures = ThrottledLog(__name__)
        self.commits = 0
        # Called on the event loop after each commit (the router wakes up early).
        self.on_commit: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ct-committer")
        self._task = asyncio.create_task(self._run(), name="ct-committer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._queue is None or self._task is None or self._writer is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._writer.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
        self._queue = self._task = self._writer = self._conn = None

    async def submit(self, rows: Sequence[EventRow]) -> list[InsertOutcome]:
        if self._queue is None:
            raise StoreUnavailable("ingest is not running", code="ingest_stopped")
        future: asyncio.Future[list[InsertOutcome]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            batch, stopping = await self._next_batch(self._queue)
            if batch:
                await self._commit(batch)

    async def _next_batch(
        self, queue: asyncio.Queue[_Request | None]
    ) -> tuple[list[_Request], bool]:
        """The requests of the next commit (up to max_events rows), and whether to stop."""
        first = await queue.get()
        if first is None:
            return [], True
        batch, size = [first], len(first[0])
        while size < self._max_events and not queue.empty():
            item = queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item[0])
        return batch, False

    async def _commit(self, batch: list[_Request]) -> None:
        rows = [row for request_rows, _ in batch for row in request_rows]
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._writer, self._write, rows
            )
        except Exception as exc:
            self._failures.error(
                "group_commit_failed", type(exc).__name__,
                events=len(rows), requests=len(batch), exc_info=exc,
            )  # fmt: skip
            if len(batch) > 1:
                # One request's rows must not fail the others: commit each request alone.
                for request in batch:
                    await self._commit([request])
                return
            _, future = batch[0]
            if not future.done():
                future.set_exception(
                    StoreUnavailable(
                        "the store did not accept the event; retry", code="store_error"
                    )
                )
            return
        self.commits += 1
        for callback in self.on_commit:
            callback()
        offset = 0
        for request_rows, future in batch:
            if not future.done():
                future.set_result(outcomes[offset : offset + len(request_rows)])
            offset += len(request_rows)

    def _write(self, rows: list[EventRow]) -> list[InsertOutcome]:
        # The writer thread keeps one connection for itself: no pool checkout (nor, on
        # PostgreSQL, its liveness ping) per commit. After an error it is dropped and the next
        # commit opens a new one.
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(**{WRITE_OPTION: True})
        try:
            with write_lock(self._engine), self._conn.begin():
                return insert_events(self._conn, rows)
        except Exception:
            self._conn.close()
            self._conn = None
            raise
