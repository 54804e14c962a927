"""Group commit: requests queue their rows, one writer commits many in one transaction.

Each HTTP request waits for the commit that holds its rows before it is answered, so a 2xx is
only ever sent for an event that is durable. Committing many requests at once amortises the
cost of a transaction (an fsync on SQLite, a round trip and WAL flush on PostgreSQL).

SQLite takes one writer at a time, so one commit is in flight there. PostgreSQL inserts side by
side, so `writers` commits may be in flight at once, each on its own connection: with one,
CT waited on the database's round trip and the database on CT (docs/benchmarks.md).
Two commits holding the same event_id cannot both insert it: the unique index makes the later
wait for the earlier and then find it, so it is answered as a duplicate or a conflict.

A writer is, on PostgreSQL, an async connection on this process's event loop (`loop_writer.py`,
the default there); a child process (`writer_process.py`, the default on SQLite); or a thread
of this process. With loop writers or children, commits of `PROCESS_MAX_ROWS` rows or more
still run in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from control_tower.db import WRITE_OPTION, is_sqlite, libpq_conninfo, write_lock
from control_tower.events.loop_writer import LoopWriter
from control_tower.events.repository import AfterInsert, InsertOutcome, insert_events
from control_tower.events.writer_process import WriterConfig, WriterProcess
from control_tower.kit.errors import Unavailable

log = structlog.get_logger(__name__)

_Item = tuple[Sequence[dict[str, Any]], "asyncio.Future[list[InsertOutcome]]"]

# With writer processes or loop writers, commits of this many rows or more still run in a
# thread: a commit's GIL hand-offs are a fixed number of driver calls whatever its size, so a
# large commit amortises them, while sending rows to a child costs per row, and building a
# large commit's statement on the event loop would hold up every request (docs/benchmarks.md).
PROCESS_MAX_ROWS = 256


class GroupCommitter:
    def __init__(
        self,
        engine: Engine,
        max_events: int = 1000,
        after_insert: AfterInsert | None = None,
        writers: int = 1,
        writer_process: WriterConfig | None = None,
        on_loop: bool = False,
    ) -> None:
        self._engine = engine
        self._max_events = max_events
        self._after_insert = after_insert
        self._writers = 1 if is_sqlite(engine) else max(1, writers)
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._in_flight: set[asyncio.Future[None]] = set()  # commit tasks, and sends to children
        # Each writer thread's own connection, used only on that thread: no pool checkout,
        # liveness ping or reset per commit. Dropped after an error, opened again on the next.
        self._local = threading.local()
        self._conns: set[Connection] = set()
        self._conns_guard = threading.Lock()
        if (writer_process is not None or on_loop) and after_insert is not None:
            raise ValueError("after_insert runs on a Connection: it needs thread writers")
        if on_loop and is_sqlite(engine):
            raise ValueError("commits on the event loop need PostgreSQL (CT_INGEST_WRITER=loop)")
        # Commit with async connections on the event loop (loop_writer.py), PostgreSQL only.
        self._loop_writer = LoopWriter(libpq_conninfo(engine)) if on_loop else None
        # Commit in child processes, one per writer (writer_process.py), instead of threads.
        self._process_config = writer_process
        self._children: asyncio.Queue[WriterProcess] | None = None
        self._all_children: list[WriterProcess] = []
        self.commits = 0
        self.process_commits = 0  # of `commits`, those a writer process made
        self.loop_commits = 0  # of `commits`, those made on the event loop
        self.on_commit: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        # Threads of their own: commits never wait behind the shared pool that runs sync routes.
        self._threads = ThreadPoolExecutor(
            max_workers=self._writers, thread_name_prefix="ct-group-commit"
        )
        if self._process_config is not None:
            self._children = asyncio.Queue()
            self._all_children = [WriterProcess(self._process_config) for _ in range(self._writers)]
            # Side by side: each child spends most of its start-up importing.
            await asyncio.gather(*(child.start() for child in self._all_children))
            for child in self._all_children:
                self._children.put_nowait(child)
        self._task = asyncio.create_task(self._run(), name="ct-group-commit")

    async def stop(self) -> None:
        if self._queue is None or self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        if self._in_flight:
            await asyncio.gather(*self._in_flight)
        for child in self._all_children:
            await child.stop()
        if self._loop_writer is not None:
            await self._loop_writer.aclose()
        self._all_children = []
        self._children = None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        with self._conns_guard:
            conns, self._conns = self._conns, set()
        for conn in conns:
            conn.close()
        self._queue = None
        self._task = None
        self._threads = None

    def writer_pids(self) -> list[int]:
        """The writer processes' ids (none with thread or loop writers)."""
        return [pid for child in self._all_children if (pid := child.pid) is not None]

    def loop_backend_pids(self) -> list[int]:
        """The PostgreSQL backends of the loop writers' idle connections."""
        return self._loop_writer.pids() if self._loop_writer is not None else []

    async def submit(self, rows: Sequence[dict[str, Any]]) -> list[InsertOutcome]:
        if self._queue is None:
            raise Unavailable("ingest is not running", code="ingest_stopped")
        future: asyncio.Future[list[InsertOutcome]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, future))
        return await future

    def _write(self, rows: list[dict[str, Any]]) -> list[InsertOutcome]:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.connect().execution_options(**{WRITE_OPTION: True})
            self._local.conn = conn
            with self._conns_guard:
                self._conns.add(conn)
        try:
            with write_lock(self._engine), conn.begin():
                return insert_events(conn, rows, self._after_insert)
        except Exception:
            self._local.conn = None
            with self._conns_guard:
                self._conns.discard(conn)
            conn.close()
            raise

    async def _run(self) -> None:
        assert self._queue is not None
        if self._loop_writer is not None:
            # A task per writer that takes the next batch when it is free and sends it itself:
            # no commit waits for a task of its own to start (a loop turn, ≈ 1 ms under load).
            await asyncio.gather(*(self._loop_worker() for _ in range(self._writers)))
            return
        free = asyncio.Semaphore(self._writers)
        stopping = False
        while not stopping:
            # Wait for a free writer before taking more: rows that arrive meanwhile join this
            # commit instead of queueing behind it.
            batch, stopping = await self._next_batch(free.acquire)
            if not batch:
                break
            if not self._send_to_child(batch, free):
                task = asyncio.create_task(self._commit_then_free(batch, free))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _loop_worker(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            batch, stopping = await self._next_batch()
            if batch:
                await self._commit(batch)
        self._queue.put_nowait(None)  # the stop, passed on to the other workers

    async def _next_batch(
        self, before_taking_more: Callable[[], Awaitable[Any]] | None = None
    ) -> tuple[list[_Item], bool]:
        """The next commit's requests (up to max_events rows), and whether stop was asked."""
        assert self._queue is not None
        item = await self._queue.get()
        if item is None:
            return [], True
        if before_taking_more is not None:
            await before_taking_more()
        batch = [item]
        size = len(item[0])
        while size < self._max_events and not self._queue.empty():
            nxt = self._queue.get_nowait()
            if nxt is None:
                return batch, True
            batch.append(nxt)
            size += len(nxt[0])
        return batch, False

    def _send_to_child(self, batch: list[_Item], free: asyncio.Semaphore) -> bool:
        """Hand `batch` to an idle, running writer child now, in this loop iteration, and
        answer its requests from the callback that reads the child's reply: the requests wait
        no loop iteration for a commit task to start or for a reader task to wake (each about a
        millisecond under load). False when the batch takes the task path instead (threads,
        a large batch, or a child to start first)."""
        if self._children is None or self._children.empty():
            return False
        rows = [row for item_rows, _ in batch for row in item_rows]
        if len(rows) >= PROCESS_MAX_ROWS:
            return False
        child = self._children.get_nowait()
        if not child.ready:
            self._children.put_nowait(child)
            return False
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight.add(sent)
        sent.add_done_callback(self._in_flight.discard)

        def on_done(result: list[InsertOutcome] | Exception) -> None:
            assert self._children is not None
            self._children.put_nowait(child)
            if isinstance(result, Exception):
                # The same recovery as the task path (each request alone), in a task of its own.
                retry = asyncio.ensure_future(self._recover(batch, rows, result, free))
                retry.add_done_callback(lambda _: sent.set_result(None))
                return
            try:
                self.process_commits += 1
                self._answer(batch, result)
            finally:
                free.release()
                sent.set_result(None)

        try:
            child.send(rows, on_done)
        except OSError:  # its socket closed just now: the task path starts a new child
            self._in_flight.discard(sent)
            self._children.put_nowait(child)
            return False
        return True

    async def _recover(
        self,
        batch: list[_Item],
        rows: list[dict[str, Any]],
        exc: Exception,
        free: asyncio.Semaphore,
    ) -> None:
        try:
            await self._failed(batch, rows, exc)
        finally:
            free.release()

    async def _commit_then_free(self, batch: list[_Item], free: asyncio.Semaphore) -> None:
        try:
            await self._commit(batch)
        finally:
            free.release()

    async def _commit(self, batch: list[_Item]) -> None:
        rows = [row for item_rows, _ in batch for row in item_rows]
        try:
            if self._loop_writer is not None and len(rows) < PROCESS_MAX_ROWS:
                outcomes = await self._loop_writer.write(rows)
                self.loop_commits += 1
            elif self._children is not None and len(rows) < PROCESS_MAX_ROWS:
                child = await self._children.get()
                try:
                    outcomes = await child.write(rows)
                finally:
                    self._children.put_nowait(child)
                self.process_commits += 1
            else:
                loop = asyncio.get_running_loop()
                outcomes = await loop.run_in_executor(self._threads, self._write, rows)
        except Exception as exc:
            await self._failed(batch, rows, exc)
            return
        self._answer(batch, outcomes)

    async def _failed(self, batch: list[_Item], rows: list[dict[str, Any]], exc: Exception) -> None:
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

    def _answer(self, batch: list[_Item], outcomes: list[InsertOutcome]) -> None:
        self.commits += 1
        for callback in self.on_commit:
            callback()
        offset = 0
        for item_rows, future in batch:
            part = outcomes[offset : offset + len(item_rows)]
            offset += len(item_rows)
            if not future.done():
                future.set_result(part)
