"""Which process runs the jobs: on PostgreSQL the holder of an advisory lock, on SQLite the one
process that serves the store.

The lock is session-level and held on a connection the leader keeps: if that connection dies
the lock goes with it, and another process takes over on its next tick.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = structlog.get_logger(__name__)

# A fixed 64-bit key for the leader's advisory lock, derived from a name so it is recognisable.
LEADER_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"control_tower.scheduler.leader").digest()[:8], "big", signed=True
)


class Leadership(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class SingleProcessLeadership:
    """SQLite: one process serves the store, and it leads."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class PostgresLeadership:
    """The holder of a session-level advisory lock leads, for as long as its connection lives."""

    def __init__(self, engine: Engine, key: int = LEADER_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError as exc:
                log.warning("scheduler_leadership_lost", exc_info=exc)
                self._discard()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            )
        except DBAPIError:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("scheduler_leadership_acquired")
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except DBAPIError:
            pass
        self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None


def leadership_for(engine: Engine) -> Leadership:
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    return SingleProcessLeadership()
