"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key).

On SQLite the state lives in process memory: the SQLite deployment is one process. On
PostgreSQL it lives in the `rate_limits` table and one atomic upsert decides each request, so
every replica shares the same budget.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Engine


class Limit(NamedTuple):  # built and compared on every request: a tuple, not a dataclass
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def capacity(self) -> float:
        return self.burst * self.interval


@functools.lru_cache(maxsize=1024)
def _constant_headers(limit: Limit) -> tuple[bytes, bytes]:
    """RateLimit-Limit and RateLimit-Policy, the same for every decision under `limit`."""
    return str(limit.burst).encode(), f"{limit.burst};w=60;rate={limit.per_minute}".encode()


class Decision(NamedTuple):
    allowed: bool
    limit: Limit
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The RateLimit-* (and, when refused, Retry-After) headers as ASGI header pairs."""
        limit_value, policy = _constant_headers(self.limit)
        headers = [
            (b"ratelimit-limit", limit_value),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", policy),
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


# psycopg placeholders: the limiter talks to the driver directly; it runs on every request and
# SQLAlchemy's per-statement work cost more than the round trip.
#
# One statement takes `n` waiting hits of one key at once: it locks the key's row, advances its
# theoretical arrival time by as many intervals as the budget allows (at most n), and returns
# the time before and after, from which each hit's decision follows. The small epsilon keeps
# float rounding from refusing the last unit of a full bucket.
_TAKE = """
    WITH prior AS (
        SELECT tat FROM rate_limits WHERE key = %(key)s FOR UPDATE
    )
    UPDATE rate_limits
       SET tat = GREATEST(prior.tat, %(now)s) + %(interval)s * LEAST(%(n)s, GREATEST(0, FLOOR(
                 (%(capacity)s - GREATEST(prior.tat - %(now)s, 0)) / %(interval)s + 1e-9)))
      FROM prior
     WHERE rate_limits.key = %(key)s
    RETURNING prior.tat, rate_limits.tat
"""
_CREATE = "INSERT INTO rate_limits (key, tat) VALUES (%(key)s, %(now)s) ON CONFLICT DO NOTHING"


@dataclass
class _Hit:
    limit: Limit
    now: float
    answer: asyncio.Future[Decision]


class AsyncPostgresRateLimiter:
    """The PostgreSQL limiter on the event loop, with psycopg's async connections.

    Hits are coalesced per key: while one round trip for a key is in flight, the hits that
    arrive for it wait and the next round trip decides them all with one statement, so a busy
    token costs one round trip per batch of concurrent requests, not one per request; the
    decisions are the ones the hits would get one by one. No thread per request: a thread hop
    plus the GIL hand-offs cost more than the round trip itself. The connections are
    autocommit with `synchronous_commit=off`: losing the last fraction of a second of
    rate-limit state in a PostgreSQL crash is harmless, and not waiting for a WAL flush keeps
    each round trip cheap. At most `size` are open.
    """

    shared = True

    def __init__(self, engine: Engine, size: int = 8) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._waiting: dict[str, list[_Hit]] = {}
        self._draining: set[str] = set()
        self._known: set[str] = set()  # keys whose row exists
        self._tasks: set[asyncio.Task[None]] = set()
        self.round_trips = 0

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options="-c synchronous_commit=off"
        )

    async def hit_async(self, key: str, limit: Limit, now: float) -> Decision:
        loop = asyncio.get_running_loop()
        hit = _Hit(limit, now, loop.create_future())
        self._waiting.setdefault(key, []).append(hit)
        if key not in self._draining:
            self._draining.add(key)
            task = loop.create_task(self._drain(key))
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)
        return await hit.answer

    async def _drain(self, key: str) -> None:
        try:
            while waiting := self._waiting.pop(key, None):
                # One limit per statement: a token's limit can change between two hits.
                same = [h for h in waiting if h.limit == waiting[0].limit]
                rest = [h for h in waiting if h.limit != waiting[0].limit]
                if rest:
                    self._waiting[key] = rest + self._waiting.get(key, [])
                try:
                    decisions = await self._take(key, same)
                except BaseException as exc:
                    for hit in same:
                        if not hit.answer.done():
                            hit.answer.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for hit, decision in zip(same, decisions, strict=True):
                    if not hit.answer.done():
                        hit.answer.set_result(decision)
        finally:
            self._draining.discard(key)

    async def _take(self, key: str, hits: list[_Hit]) -> list[Decision]:
        limit = hits[0].limit
        now = max(hit.now for hit in hits)
        params = {
            "key": key, "now": now, "n": len(hits),
            "interval": limit.interval, "capacity": limit.capacity,
        }  # fmt: skip
        row = await self._execute(key, params)
        before, after = float(row[0]), float(row[1])
        start = max(before, now)
        granted = round((after - start) / limit.interval)
        return [
            decide(limit, start + (i + 1) * limit.interval, now, True)
            if i < granted
            else decide(limit, after + limit.interval, now, False)
            for i in range(len(hits))
        ]

    async def _execute(self, key: str, params: dict[str, Any]) -> tuple[Any, ...]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        async with self._slots:
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle else await self._connect()
                try:
                    if key not in self._known:
                        await conn.execute(_CREATE, params)
                        self._known.add(key)
                    self.round_trips += 1
                    cursor = await conn.execute(_TAKE, params)
                    row = await cursor.fetchone()
                except psycopg.OperationalError:
                    await conn.close()
                    if attempt == 2:
                        raise
                    continue  # a connection that died while idle: once more on a new one
                except BaseException:
                    await conn.close()
                    raise
                self._idle.append(conn)
                if row is None:  # the row went away (a reset): create it again
                    self._known.discard(key)
                    continue
                return tuple(row)
        raise RuntimeError(f"rate limit state for {key!r} could not be read")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
