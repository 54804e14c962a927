"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key).

On SQLite the state lives in process memory: the SQLite deployment is one process. On
PostgreSQL it lives in the `rate_limits` table and each request is decided by one atomic
statement on the key's row, so every replica shares the same budget.
"""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Connection, Engine, delete

from control_tower.db import libpq_conninfo
from control_tower.models.rate_limits import rate_limits


class Limit(NamedTuple):  # built on every request: a tuple, not a dataclass
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def capacity(self) -> float:
        return self.burst * self.interval


class Decision(NamedTuple):
    allowed: bool
    limit: Limit
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The RateLimit-* (and, when refused, Retry-After) headers as ASGI header pairs."""
        limit = self.limit
        headers = [
            (b"ratelimit-limit", str(limit.burst).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", f"{limit.burst};w=60;rate={limit.per_minute}".encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after_seconds).encode()))
        return headers

    def headers(self) -> dict[str, str]:
        return {name.decode(): value.decode() for name, value in self.raw_headers()}


def decide(limit: Limit, tat_after: float, now: float, allowed: bool) -> Decision:
    """Headers from the theoretical arrival time after (or, if refused, had) this request."""
    backlog = max(0.0, tat_after - now)
    remaining = max(0, math.floor((limit.capacity - backlog) / limit.interval)) if allowed else 0
    retry = max(1, math.ceil(backlog - limit.capacity)) if not allowed else 0
    return Decision(allowed, limit, remaining, math.ceil(backlog), retry)


class MemoryRateLimiter:
    shared = False

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: Limit, now: float) -> Decision:
        with self._lock:
            tat = max(self._tat.get(key, now), now) + limit.interval
            if tat - now <= limit.capacity:
                self._tat[key] = tat
                return decide(limit, tat, now, True)
        return decide(limit, tat, now, False)


# One request, one statement: the same arithmetic as `MemoryRateLimiter.hit`, on the key's row.
# `prior` locks the row (when there is one) until the statement ends, so no other request moves
# the TAT between the read and the write, and the statement knows the TAT it started from,
# which the answer's headers need (RETURNING sees only the new row). A missing row is a full
# bucket (GREATEST ignores the NULL). The row is created or advanced only when the request is
# allowed. If another request created the row after this statement's snapshot, `prior` is
# empty, the INSERT meets that row and leaves it alone (its WHERE is false), and no row comes
# back: the caller runs the statement again, which then sees and locks the row.
# psycopg placeholders: the limiter talks to the driver directly, on the event loop.
_HIT = """
    WITH prior AS (
        SELECT tat FROM rate_limits WHERE key = %(key)s FOR UPDATE
    ), hit AS (
        SELECT tat, tat - %(now)s <= %(capacity)s AS allowed
          FROM (SELECT GREATEST((SELECT tat FROM prior), %(now)s) + %(interval)s AS tat) AS next
    ), written AS (
        INSERT INTO rate_limits (key, tat)
        SELECT %(key)s, tat FROM hit WHERE allowed
        ON CONFLICT (key) DO UPDATE SET tat = excluded.tat WHERE EXISTS (SELECT FROM prior)
        RETURNING key
    )
    SELECT tat, allowed FROM hit WHERE NOT allowed OR EXISTS (SELECT FROM written)
"""


class AsyncPostgresRateLimiter:
    """The PostgreSQL limiter: one statement per request, on psycopg's async connections.

    It runs on the event loop, with no thread per request: a thread hop plus GIL hand-offs
    cost more than the round trip. At most `size` connections are open; they are opened when
    first needed and reused. The connections are autocommit with `synchronous_commit=off`:
    losing the last fraction of a second of rate-limit state in a PostgreSQL crash is harmless,
    and not waiting for a WAL flush keeps each round trip cheap.
    """

    shared = True

    def __init__(self, engine: Engine, size: int = 8) -> None:
        self._conninfo = libpq_conninfo(engine)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def hit_async(self, key: str, limit: Limit, now: float) -> Decision:
        params = {"key": key, "now": now, "interval": limit.interval, "capacity": limit.capacity}
        # A second run only follows a race with the request that created the key's row, and
        # then finds that row: the statement never comes back empty twice in a row.
        for _ in range(2):
            row = await self._execute(params)
            if row is not None:
                tat, allowed = row
                return decide(limit, float(tat), now, bool(allowed))
        raise RuntimeError(f"rate limit state for {key!r} could not be read")

    async def _execute(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self._slots:
            try:
                return await self._execute_once(params)
            except psycopg.OperationalError:
                # A connection that broke while idle (a server restart, an idle timeout) was
                # closed: once more on a new one. Had the statement run before the break, this
                # spends one more unit, which errs on the strict side.
                return await self._execute_once(params)

    async def _execute_once(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            cursor = await conn.execute(_HIT, params)
            row = await cursor.fetchone()
        except BaseException:
            await conn.close()  # broken or in an unknown state: never reused
            raise
        self._idle.append(conn)
        return None if row is None else tuple(row)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options="-c synchronous_commit=off"
        )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


# A row whose TAT is past holds a full bucket, the same as no row, so deleting it changes no
# decision. The margin keeps rows that a replica whose clock runs behind this one's would still
# read as partly spent (replicas' clocks are kept in sync, not identical).
EXPIRY_MARGIN_SECONDS = 60.0


def expire_idle_rate_limits(conn: Connection, now: float | datetime) -> int:
    """Delete the rate-limit rows of keys idle for longer than the margin; return how many.

    Without it every distinct key (each anonymous client address) would keep a row forever.
    A request racing the delete is safe: it either locks the row first (and moves its TAT past
    the cutoff, so the delete skips it) or finds no row and starts from a full bucket.
    """
    instant = now.timestamp() if isinstance(now, datetime) else now
    cutoff = instant - EXPIRY_MARGIN_SECONDS
    return conn.execute(delete(rate_limits).where(rate_limits.c.tat < cutoff)).rowcount
