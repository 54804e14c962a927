"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key).

On SQLite the state lives in process memory: the SQLite deployment is one process. On
PostgreSQL it lives in the `rate_limits` table and atomic statements take units from it, so
every replica shares the same budget; a process serving a busy token takes a short lease of
units at once (see `AsyncPostgresRateLimiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Engine

from control_tower.db import libpq_conninfo


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
# One statement takes up to `n` units of one key at once: it locks the key's row, first gives
# back `give_back` seconds (units of an expired lease that were never used), advances the
# theoretical arrival time by as many intervals as the budget allows (at most n), and returns
# the time before and after, from which each unit's decision follows. GCRA's state is a count
# of spent intervals, so giving back units taken earlier leaves every later taker's units in
# place; the bucket never gets fuller than full (`now`). The small epsilon keeps float rounding
# from refusing the last unit of a full bucket.
_TAKE = """
    WITH prior AS (
        SELECT GREATEST(tat - %(give_back)s, %(now)s) AS tat
          FROM rate_limits WHERE key = %(key)s FOR UPDATE
    )
    UPDATE rate_limits
       SET tat = prior.tat + %(interval)s * LEAST(%(n)s, GREATEST(0, FLOOR(
                 (%(capacity)s - (prior.tat - %(now)s)) / %(interval)s + 1e-9)))
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


LEASE_SECONDS = 0.2
LEASE_MIN_HITS = 10  # hits in one lease-length window that make a key busy enough to lease
_MAX_KEYS = 4096


@dataclass
class _KeyState:
    """One key's traffic in this process and the units it holds on lease."""

    window_start: float = 0.0  # monotonic
    window_hits: int = 0
    last_window_hits: int = 0  # hits in the window before: the expected hits in the next one
    lease_limit: Limit | None = None
    lease_units: int = 0  # taken from the shared budget, not yet granted
    lease_tat: float = 0.0  # the theoretical arrival time the next leased unit brings
    lease_expires: float = 0.0  # monotonic
    give_back: float = 0.0  # seconds of budget from expired leases, returned by the next take

    def count(self, mono: float, window: float) -> None:
        elapsed = mono - self.window_start
        if elapsed >= window:
            self.last_window_hits = self.window_hits if elapsed < 2 * window else 0
            self.window_start, self.window_hits = mono, 0
        self.window_hits += 1

    def grant_leased(self, limit: Limit, now: float, mono: float) -> Decision | None:
        """A unit from the lease, or None when there is no usable one (an unusable lease
        is ended and its units are given back with the next take)."""
        if not self.lease_units:
            return None
        if self.lease_limit == limit and mono < self.lease_expires:
            self.lease_units -= 1
            tat, self.lease_tat = self.lease_tat, self.lease_tat + limit.interval
            return decide(limit, tat, now, True)
        self.end_lease()
        return None

    def end_lease(self) -> None:
        if self.lease_limit is not None:
            self.give_back += self.lease_units * self.lease_limit.interval
        self.lease_units, self.lease_limit = 0, None

    def idle(self, mono: float, window: float) -> bool:
        return (
            not self.lease_units and not self.give_back and (mono - self.window_start >= 2 * window)
        )


class AsyncPostgresRateLimiter:
    """The PostgreSQL limiter on the event loop, with psycopg's async connections.

    Hits are coalesced per key: while one round trip for a key is in flight, the hits that
    arrive for it wait and the next round trip decides them all with one statement, so a busy
    token costs one round trip per batch of concurrent requests, not one per request; the
    decisions are the ones the hits would get one by one. A key busy enough to have had
    `LEASE_MIN_HITS` hits in the last `lease_seconds` (0.2 s) also takes, in the same
    statement, a lease of as many units more as it had hits then (never more than the budget
    holds): the hits that follow within `lease_seconds` are decided from the lease in memory,
    with no round trip; units the lease did not use go back to the shared budget with the key's
    next statement. Every unit granted anywhere was taken from the shared budget first, so
    replicas together never exceed it; while a process holds a lease, other processes see those
    units as spent. No thread per request: a thread hop plus the GIL hand-offs cost more than
    the round trip itself. The connections are
    autocommit with `synchronous_commit=off`: losing the last fraction of a second of
    rate-limit state in a PostgreSQL crash is harmless, and not waiting for a WAL flush keeps
    each round trip cheap. At most `size` are open.
    """

    shared = True

    def __init__(self, engine: Engine, size: int = 8, lease_seconds: float = LEASE_SECONDS) -> None:
        self._conninfo = libpq_conninfo(engine)
        self._size = size
        self._lease_seconds = lease_seconds
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._waiting: dict[str, list[_Hit]] = {}
        self._draining: set[str] = set()
        self._known: set[str] = set()  # keys whose row exists
        self._keys: dict[str, _KeyState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.round_trips = 0
        self.leased_grants = 0

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options="-c synchronous_commit=off"
        )

    async def hit_async(self, key: str, limit: Limit, now: float) -> Decision:
        mono = time.monotonic()
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= _MAX_KEYS:
                self._forget_idle(mono)
            state = self._keys[key] = _KeyState(window_start=mono)
        state.count(mono, self._lease_seconds)
        if key not in self._draining and (leased := state.grant_leased(limit, now, mono)):
            self.leased_grants += 1
            return leased
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
                waiting = self._from_lease(key, waiting)
                if not waiting:
                    continue
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
        state = self._keys.get(key) or self._keys.setdefault(
            key, _KeyState(window_start=time.monotonic())
        )
        state.end_lease()
        expected = state.last_window_hits
        lease = expected if expected >= LEASE_MIN_HITS else 0
        give_back, state.give_back = state.give_back, 0.0
        params = {
            "key": key, "now": now, "n": len(hits) + lease, "give_back": give_back,
            "interval": limit.interval, "capacity": limit.capacity,
        }  # fmt: skip
        try:
            row = await self._execute(key, params)
        except BaseException:
            state.give_back += give_back  # not returned: try again with the next take
            raise
        start, after = float(row[0]), float(row[1])
        granted = round((after - start) / limit.interval)
        if granted > len(hits):
            state.lease_limit, state.lease_units = limit, granted - len(hits)
            state.lease_tat = start + (len(hits) + 1) * limit.interval
            state.lease_expires = time.monotonic() + self._lease_seconds
        return [
            decide(limit, start + (i + 1) * limit.interval, now, True)
            if i < granted
            else decide(limit, after + limit.interval, now, False)
            for i in range(len(hits))
        ]

    async def _give_back(self, key: str, state: _KeyState) -> None:
        """Return unused leased units when closing (best effort: a store that is gone keeps
        them spent, which errs on the strict side)."""
        give_back, state.give_back = state.give_back, 0.0
        params = {
            "key": key, "now": time.time(), "n": 0, "give_back": give_back,
            "interval": 1.0, "capacity": 0.0,
        }  # fmt: skip
        with contextlib.suppress(Exception):  # closing must not fail over rate-limit state
            await self._execute(key, params)

    def _from_lease(self, key: str, waiting: list[_Hit]) -> list[_Hit]:
        """Decide what the lease taken by the last statement covers; the rest still wait."""
        state, mono = self._keys.get(key), time.monotonic()
        if state is None or not state.lease_units:
            return waiting
        rest = []
        for hit in waiting:
            if leased := state.grant_leased(hit.limit, hit.now, mono):
                self.leased_grants += 1
                hit.answer.set_result(leased)
            else:
                rest.append(hit)
        return rest

    def _forget_idle(self, mono: float) -> None:
        for key in [k for k, state in self._keys.items() if state.idle(mono, self._lease_seconds)]:
            del self._keys[key]

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
        for key, state in list(self._keys.items()):
            state.end_lease()
            if state.give_back and key in self._known:
                await self._give_back(key, state)
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
