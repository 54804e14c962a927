"""Ingest commits in a process of their own, so they never compete with the API for the GIL.

In a writer thread, every SQLite or psycopg call releases the GIL and must win it back from the
event loop, which is busy under load: each hand-off is a forced switch (futex wake, context
switch) on both threads, several per commit, and the event loop's share of them cost more of
its time than the commit itself (docs/benchmarks.md). A child process does the same work
(`insert_events` under the store's write lock, in one transaction per batch) on its own
interpreter; the API sends it each batch as one JSON frame over a socket pair and answers the
requests only when the child replies that the batch is committed, so a 2xx still means durable.

The child exits when its socket closes (the API stopped or died); it ignores SIGINT and SIGTERM
so that a signal to the whole process group lets the API finish its in-flight commits first.
If the child dies during a commit, that commit's requests get a 503 and the next commit starts
a new child; an event the dead child had already committed is then found as a duplicate when
its producer retries, never stored twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
import structlog
from sqlalchemy import Connection

from control_tower.events.repository import InsertOutcome, insert_events
from control_tower.kit.errors import Unavailable
from control_tower.kit.json_text import loads_text

log = structlog.get_logger(__name__)

_LENGTH = struct.Struct("!I")


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        # An integer beyond 64 bits in a payload: the stdlib writes it (loads_text reads it).
        return json.dumps(value, default=_iso).encode()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to the writer process")


def _frame(value: Any) -> bytes:
    data = _encode(value)
    return _LENGTH.pack(len(data)) + data


class WriterConfig(NamedTuple):
    database_url: str
    sqlite_synchronous: str = "FULL"
    log_level: str = "INFO"
    log_json: bool = True


Reply = dict[str, Any]
OnReply = Callable[["Reply | BaseException"], None]


class _Channel(asyncio.Protocol):
    """The API's end of the socket: frames out, and each reply frame handed to the callback of
    the message it answers (the child answers in order) from `data_received` itself. Replies
    are what requests wait for: a task reading a stream would add a loop iteration (under
    load about a millisecond) before anyone saw them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiting: deque[OnReply] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, message: Any, on_reply: OnReply) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the writer process's socket is closed")
        self._waiting.append(on_reply)
        transport.write(_frame(message))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer)
            end = _LENGTH.size + length
            if len(buffer) < end:
                break
            reply = loads_text(bytes(buffer[_LENGTH.size : end]))
            del buffer[:end]
            self._answer(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self._waiting:
            self._answer(ConnectionResetError(f"the writer process closed its socket ({exc})"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _answer(self, reply: Reply | BaseException) -> None:
        if not self._waiting:
            log.error("writer_process_unexpected_reply")
            return
        on_reply = self._waiting.popleft()
        try:
            on_reply(reply)
        except Exception as exc:  # one caller's bug must not stop the others' replies
            log.error("writer_process_reply_failed", error=type(exc).__name__, exc_info=exc)


class WriterProcess:
    """The API's handle on one writer child: `write` (or `send`) hands it a batch to commit."""

    def __init__(self, config: WriterConfig) -> None:
        self._config = config._asdict()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: _Channel | None = None
        self._exiting: list[subprocess.Popen[bytes]] = []  # abandoned children, reaped later

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        """Running and connected: `send` may be used (else `write`, which starts a new one)."""
        return (
            self._channel is not None
            and self._channel.open
            and self._process is not None
            and self._process.poll() is None
        )

    async def start(self) -> None:
        parent, child = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "control_tower.events.writer_process", str(child.fileno())],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        _, self._channel = await loop.create_unix_connection(_Channel, sock=parent)
        # The store's address travels over the socket, not argv: a PostgreSQL URL may hold a
        # password, and a command line is visible to every user of the machine.
        try:
            ready = await self._call(self._config)
        except OSError as exc:
            self._abandon()
            raise Unavailable("the writer process did not start", code="store_error") from exc
        if ready.get("ready") is not True:
            self._abandon()
            raise Unavailable(f"the writer process did not start: {ready}", code="store_error")

    async def _call(self, message: Any) -> Reply:
        if self._channel is None:
            raise Unavailable("the writer process is not running", code="store_error")
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        def on_reply(reply: Reply | BaseException) -> None:
            if answer.done():
                return
            if isinstance(reply, BaseException):
                answer.set_exception(reply)
            else:
                answer.set_result(reply)

        self._channel.send(message, on_reply)
        return await answer

    async def write(self, rows: Sequence[dict[str, Any]]) -> list[InsertOutcome]:
        """Commit `rows` in the child. Raises Unavailable if the store refused them or the child
        died (the next call starts a new one)."""
        if self._process is not None and not self.ready:
            log.error("writer_process_exited", returncode=self._process.poll())
            self._abandon()  # gone between commits: nothing of this batch was sent to it
        if self._channel is None:
            await self.start()
        try:
            reply = await self._call({"rows": rows})
        except BaseException as exc:
            # Out of step with the child (it died, or this call was cancelled before the
            # reply): the next call gets a new one.
            self._abandon()
            if isinstance(exc, OSError):
                log.error("writer_process_lost", error=type(exc).__name__)
                raise Unavailable("the writer process stopped; retry", code="store_error") from exc
            raise
        return self._outcomes(reply)

    def send(
        self,
        rows: Sequence[dict[str, Any]],
        on_done: Callable[[list[InsertOutcome] | Exception], None],
    ) -> None:
        """Send `rows` now, without waiting: `on_done` gets the outcomes (or the Unavailable to
        answer with) when the child replies, called from the event loop's reading of the
        socket. Only while `ready`; `write` is the way that starts a child."""
        assert self._channel is not None

        def on_reply(reply: Reply | BaseException) -> None:
            if isinstance(reply, BaseException):
                log.error("writer_process_lost", error=type(reply).__name__)
                self._abandon()
                on_done(Unavailable("the writer process stopped; retry", code="store_error"))
                return
            try:
                outcomes = self._outcomes(reply)
            except Unavailable as exc:
                on_done(exc)
                return
            on_done(outcomes)

        self._channel.send({"rows": rows}, on_reply)

    @staticmethod
    def _outcomes(reply: Reply) -> list[InsertOutcome]:
        if "error" in reply:
            raise Unavailable(f"the store refused the batch: {reply['error']}", code="store_error")
        return [InsertOutcome(*outcome) for outcome in reply["outcomes"]]

    def _abandon(self) -> None:
        """Drop the connection; the child finishes what it was doing and exits at its end."""
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        if self._process is not None:
            self._exiting.append(self._process)
            self._process = None
        self._exiting = [p for p in self._exiting if p.poll() is None]

    async def stop(self) -> None:
        self._abandon()
        for process in self._exiting:
            # It exits at the end of its socket; a hung store must not hang the shutdown.
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self._exiting = []


# --- the child ---------------------------------------------------------------------------


def _read_frame(stream: Any) -> Any | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    return loads_text(data)


def _as_rows(raw_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moments: dict[str, datetime] = {}  # a request's events share one received_at: parse once
    for row in raw_rows:
        for key in ("received_at", "occurred_at"):
            text = row[key]
            moment = moments.get(text)
            if moment is None:
                moment = moments[text] = datetime.fromisoformat(text)
            row[key] = moment
    return raw_rows


def serve(fd: int) -> None:
    from control_tower.db import WRITE_OPTION, build_engine, write_lock
    from control_tower.observability.logging import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as inbox:
        config = _read_frame(inbox)
        if config is None:
            return
        configure_logging(config["log_level"], config["log_json"])
        engine = build_engine(
            config["database_url"], sqlite_synchronous=config["sqlite_synchronous"], pool_size=1
        )
        sock.sendall(_frame({"ready": True}))
        conn: Connection | None = None
        while (message := _read_frame(inbox)) is not None:
            try:
                if conn is None:
                    conn = engine.connect().execution_options(**{WRITE_OPTION: True})
                with write_lock(engine), conn.begin():
                    outcomes = insert_events(conn, _as_rows(message["rows"]))
                reply: dict[str, Any] = {"outcomes": outcomes}
            except Exception as exc:
                log.error("writer_process_commit_failed", error=type(exc).__name__)
                reply = {"error": type(exc).__name__}
                if conn is not None:
                    conn.close()  # a new connection for the next batch
                    conn = None
            try:
                sock.sendall(_frame(reply))
            except OSError:
                break  # the API went away
        if conn is not None:
            conn.close()
        engine.dispose()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
