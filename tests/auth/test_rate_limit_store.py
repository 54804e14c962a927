"""Where rate-limit state lives: per process on SQLite, shared through PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine

from control_tower.auth.rate_limit import (
    AsyncPostgresRateLimiter,
    Decision,
    Limit,
    MemoryRateLimiter,
)


def allowed(limiter: MemoryRateLimiter, hits: int, now: float) -> int:
    return sum(limiter.hit("token:t1", Limit(60, 5), now).allowed for _ in range(hits))


def test_two_processes_share_one_budget_only_on_postgresql(backend: str, engine: Engine) -> None:
    now = time.time()
    if backend == "postgresql":
        assert sum(asyncio.run(two_async_replicas(engine, now))) == 5
    else:
        one, other = MemoryRateLimiter(), MemoryRateLimiter()
        assert allowed(one, 4, now) + allowed(other, 4, now) == 8


async def two_async_replicas(engine: Engine, now: float) -> tuple[int, int]:
    """The limiter the app uses on PostgreSQL: event-loop connections, same shared budget."""
    replica_a, replica_b = AsyncPostgresRateLimiter(engine), AsyncPostgresRateLimiter(engine)
    try:
        hits_a = [await replica_a.hit_async("token:t2", Limit(60, 5), now) for _ in range(4)]
        hits_b = [await replica_b.hit_async("token:t2", Limit(60, 5), now) for _ in range(4)]
        # Its sessions commit asynchronously.
        show = await replica_a._idle[0].execute("SHOW synchronous_commit")
        assert await show.fetchone() == ("off",)
        refused = hits_b[-1]
        assert not refused.allowed
        assert refused.retry_after_seconds >= 1
        return sum(d.allowed for d in hits_a), sum(d.allowed for d in hits_b)
    finally:
        await replica_a.aclose()
        await replica_b.aclose()


def test_concurrent_hits_on_postgresql_share_round_trips_and_decide_as_one_by_one(
    backend: str, engine: Engine
) -> None:
    now = time.time()
    limit = Limit(60, 5)
    if backend == "sqlite":
        limiter = MemoryRateLimiter()
        decisions = [limiter.hit("token:t3", limit, now) for _ in range(12)]
    else:
        decisions, round_trips = asyncio.run(concurrent_hits(engine, limit, now))
        assert round_trips < 12, "every hit paid its own round trip"
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 7
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.retry_after_seconds >= 1 for d in decisions[5:])


async def concurrent_hits(engine: Engine, limit: Limit, now: float) -> tuple[list[Decision], int]:
    limiter = AsyncPostgresRateLimiter(engine)
    try:
        decisions = await asyncio.gather(
            *(limiter.hit_async("token:t3", limit, now) for _ in range(12))
        )
        return list(decisions), limiter.round_trips
    finally:
        await limiter.aclose()
