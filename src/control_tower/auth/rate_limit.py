"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key).

On SQLite the state lives in process memory: the SQLite deployment is one process. On
PostgreSQL it lives in the `rate_limits` table and one atomic upsert decides each request, so
every replica shares the same budget.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError


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


class RateLimiter(Protocol):
    def hit(self, key: str, limit: Limit, now: float) -> Decision: ...

    def close(self) -> None: ...


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

    def close(self) -> None:
        pass


_UPSERT = text(
    """
    INSERT INTO rate_limits (key, tat) VALUES (:key, :now + :interval)
    ON CONFLICT (key) DO UPDATE
       SET tat = GREATEST(rate_limits.tat, :now) + :interval
     WHERE GREATEST(rate_limits.tat, :now) + :interval - :now <= :capacity
    RETURNING tat
    """
)
_READ = text("SELECT tat FROM rate_limits WHERE key = :key")


class PostgresRateLimiter:
    shared = True

    def __init__(self, engine: Engine, pool_size: int = 8) -> None:
        # Its own small pool whose sessions commit asynchronously: losing the last fraction of
        # a second of rate-limit state in a PostgreSQL crash is harmless, and not waiting for a
        # WAL flush on every request keeps the limiter cheap. No overflow and no pre-ping:
        # callers run at most `pool_size` hits at once (see AppContext.rate_hit), so no
        # connection is opened and closed per request, and each hit is one round trip.
        self.pool_size = pool_size
        self._engine = create_engine(
            engine.url,
            pool_size=pool_size,
            max_overflow=0,
            pool_recycle=300,
            connect_args={"options": "-c synchronous_commit=off"},
        )
        # Closed by close(), or when the limiter is garbage-collected (callers that never close).
        self._dispose = weakref.finalize(self, self._engine.dispose)

    def hit(self, key: str, limit: Limit, now: float) -> Decision:
        try:
            return self._hit(key, limit, now)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # A connection that died while idle (PostgreSQL restarted): once more, on a new one.
            return self._hit(key, limit, now)

    def _hit(self, key: str, limit: Limit, now: float) -> Decision:
        params = {"key": key, "now": now, "interval": limit.interval, "capacity": limit.capacity}
        with self._engine.begin() as conn:
            row = conn.execute(_UPSERT, params).first()
            if row is not None:
                return decide(limit, float(row.tat), now, True)
            current = conn.execute(_READ, {"key": key}).scalar_one()
        return decide(limit, float(current) + limit.interval, now, False)

    def close(self) -> None:
        self._dispose()
