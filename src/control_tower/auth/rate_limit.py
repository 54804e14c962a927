"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key).

On SQLite the state lives in process memory: the SQLite deployment is one process. On
PostgreSQL it lives in the `rate_limits` table and one atomic upsert decides each request, so
every replica shares the same budget.
"""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine


@dataclass(frozen=True)
class Limit:
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def capacity(self) -> float:
        return self.burst * self.interval


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: Limit
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit.burst),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit.burst};w=60;rate={self.limit.per_minute}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


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


# psycopg placeholders: the limiter talks to the driver directly; it runs on every request and
# SQLAlchemy's per-statement work cost more than the round trip.
_UPSERT = """
    INSERT INTO rate_limits (key, tat) VALUES (%(key)s, %(now)s + %(interval)s)
    ON CONFLICT (key) DO UPDATE
       SET tat = GREATEST(rate_limits.tat, %(now)s) + %(interval)s
     WHERE GREATEST(rate_limits.tat, %(now)s) + %(interval)s - %(now)s <= %(capacity)s
    RETURNING tat
"""
_READ = "SELECT tat FROM rate_limits WHERE key = %(key)s"


class AsyncPostgresRateLimiter:
    """The PostgreSQL limiter on the event loop, with psycopg's async connections.

    No thread per request: a thread hop plus the GIL hand-offs between a handful of busy
    threads cost more than the round trip itself, and cut single-event ingest on PostgreSQL by
    more than half. The connections are autocommit with `synchronous_commit=off`: losing the
    last fraction of a second of rate-limit state in a PostgreSQL crash is harmless, and not
    waiting for a WAL flush keeps each hit cheap. At most `size` are open.
    """

    shared = True

    def __init__(self, engine: Engine, size: int = 8) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options="-c synchronous_commit=off"
        )

    async def hit_async(self, key: str, limit: Limit, now: float) -> Decision:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        params = {"key": key, "now": now, "interval": limit.interval, "capacity": limit.capacity}
        async with self._slots:
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle else await self._connect()
                try:
                    cursor = await conn.execute(_UPSERT, params)
                    row = await cursor.fetchone()
                    if row is None:
                        cursor = await conn.execute(_READ, {"key": key})
                        current = await cursor.fetchone()
                except psycopg.OperationalError:
                    await conn.close()
                    if attempt == 2:
                        raise
                    continue  # a connection that died while idle: once more on a new one
                except BaseException:
                    await conn.close()
                    raise
                self._idle.append(conn)
                if row is not None:
                    return decide(limit, float(row[0]), now, True)
                assert current is not None
                return decide(limit, float(current[0]) + limit.interval, now, False)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
