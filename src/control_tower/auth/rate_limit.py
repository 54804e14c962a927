"""Per-key rate limits with GCRA (a token bucket kept as one timestamp per key), in memory.

Limits are **per process** ("per replica"): the SQLite deployment is one process, and with N
`ct serve` replicas on PostgreSQL a key may make N times its budget in all. A shared budget in
the store cost a database round trip on every request, which was most of what a single
PostgreSQL ingest cost (docs/benchmarks.md); rate limits protect a replica from a flood, and
do that as well per replica.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

# Keys whose bucket is full again are forgotten (deciding as if they were new) once there are
# this many: every stranger's address is a key, and none should stay in memory for ever.
FORGET_IDLE_ABOVE = 10_000


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


class RateLimiter:
    def __init__(self, forget_idle_above: int = FORGET_IDLE_ABOVE) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._forget_idle_above = forget_idle_above

    def hit(self, key: str, limit: Limit, now: float) -> Decision:
        with self._lock:
            tat = max(self._tat.get(key, now), now) + limit.interval
            if tat - now > limit.capacity:
                return decide(limit, tat, now, False)
            self._tat[key] = tat
            if len(self._tat) > self._forget_idle_above:
                self._forget_idle(now)
        return decide(limit, tat, now, True)

    def _forget_idle(self, now: float) -> None:
        # A key whose theoretical arrival time has passed has a full bucket: forgetting it
        # changes no decision.
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}

    def __len__(self) -> int:
        return len(self._tat)
