"""Engine factory and the unit of work. SQLite gets WAL and sane PRAGMAs on every connection."""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from control_tower.kit.json_text import dumps_text, loads_text

WRITE_OPTION = "ct_write"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def build_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
            **_JSON,
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **_JSON
    )


# JSON columns written and read by orjson where it is exact (the router reads every payload).
_JSON: dict[str, Any] = {"json_serializer": dumps_text, "json_deserializer": loads_text}


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so writes can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-32000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes SQLite's write lock up front: a deferred one that reads
        # first and writes later can fail with SQLITE_BUSY instead of waiting its turn.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class SqliteWriteLock:
    """Held around every write transaction on a SQLite store, across threads and processes.

    SQLite lets one writer in at a time and makes the others wait in its busy handler, which
    sleeps in growing steps (up to 100 ms) and so wakes late: the group committer waiting
    behind a router lost most of its time there. Writers queue here instead — threads of one
    process on a lock, processes (`ct serve`, `ct worker`, the CLI) on an exclusive `flock` of
    a file beside the database — and the next starts the moment the last one commits. The
    kernel drops a dead process's `flock`, so a crash never leaves the store locked. A writer
    that does not take this lock (another program) still meets SQLite's own lock.
    """

    def __init__(self, path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def locked(self) -> bool:
        return self._threads.locked()

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, SqliteWriteLock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The lock every write transaction takes first: SqliteWriteLock on SQLite, none on
    PostgreSQL (its row locks let writers of different rows go on side by side)."""
    if not is_sqlite(engine):
        return nullcontext()
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            database = engine.url.database
            path = f"{database}.ct-write-lock" if database and database != ":memory:" else None
            lock = _WRITE_LOCKS[engine] = SqliteWriteLock(path)
    return lock


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """One transaction: commits when the block ends, rolls back if it raises."""
    with write_lock(engine) if write else nullcontext(), engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: write})
        with conn.begin():
            yield conn


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def conflict_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT … DO NOTHING / DO UPDATE on either store.

    Both stores have ON CONFLICT; SQLAlchemy spells it through each dialect's own insert().
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def libpq_conninfo(engine: Engine) -> str:
    """The engine's PostgreSQL address for psycopg's own connections (password included)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
