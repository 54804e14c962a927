"""Where rate-limit state lives: per process on SQLite, shared through PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
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


# Leases (PostgreSQL): a busy key takes units ahead; the budget stays one budget.
WINDOW = 1.0  # the test limiters' lease length and traffic window
SLOW = Limit(1, 30)  # 30 units, refilling one a minute: nothing refills during a test


async def warm(limiter: AsyncPostgresRateLimiter, key: str, hits: int) -> int:
    """`hits` hits in one window, then wait for the window to end: the key counts as busy."""
    started = time.monotonic()
    allowed = sum([(await limiter.hit_async(key, SLOW, time.time())).allowed for _ in range(hits)])
    await asyncio.sleep(max(0.0, started + WINDOW + 0.05 - time.monotonic()))
    return allowed


async def spend(limiter: AsyncPostgresRateLimiter, key: str, hits: int) -> list[Decision]:
    return [await limiter.hit_async(key, SLOW, time.time()) for _ in range(hits)]


def leasing_run(engine: Engine, scenario: str) -> Any:
    async def run() -> Any:
        key = f"token:lease-{scenario}"
        one = AsyncPostgresRateLimiter(engine, lease_seconds=WINDOW)
        other = AsyncPostgresRateLimiter(engine, lease_seconds=WINDOW)
        try:
            assert await warm(one, key, 12) == 12
            before = one.round_trips
            first = await spend(one, key, 1)  # takes 1 for itself and leases 12 more
            if scenario == "busy":
                rest = await spend(one, key, 12)
                return first + rest, one.round_trips - before, one.leased_grants
            if scenario == "shared":
                theirs = await spend(other, key, 10)  # 30 - 13 - 12 leased = 5 left for them
                mine = await spend(one, key, 13)  # 12 from the lease, then the budget is spent
                return first + mine, theirs
            if scenario == "expired":
                await asyncio.sleep(WINDOW + 0.05)
                again = await spend(one, key, 1)  # gives the 12 unused units back
                return first + again, await spend(other, key, 20)
            await one.aclose()  # "closed": closing gives them back too
            return first, await spend(other, key, 20)
        finally:
            await one.aclose()
            await other.aclose()

    return asyncio.run(run())


def test_a_busy_key_leases_units_and_decides_from_the_lease_without_round_trips(
    backend: str, engine: Engine
) -> None:
    if backend == "sqlite":
        limiter = MemoryRateLimiter()  # one process: every decision is already in memory
        decisions = [limiter.hit("token:lease", SLOW, time.time()) for _ in range(25)]
        assert [d.remaining for d in decisions[12:]] == list(range(17, 4, -1))
        return
    decisions, round_trips, leased = leasing_run(engine, "busy")
    assert round_trips == 1
    assert leased == 12
    # The answers a client sees are those of one-by-one hits: the budget counts down.
    assert [d.remaining for d in decisions] == list(range(17, 4, -1))
    assert all(d.allowed for d in decisions)


def test_a_lease_never_lets_two_replicas_exceed_the_shared_budget(
    backend: str, engine: Engine
) -> None:
    if backend == "sqlite":
        one, other = MemoryRateLimiter(), MemoryRateLimiter()
        hits = [one.hit("token:lease", SLOW, time.time()) for _ in range(26)]
        assert (
            sum(d.allowed for d in hits)
            + sum(other.hit("token:lease", SLOW, time.time()).allowed for _ in range(10))
            == 36
        )  # per process on SQLite (documented): each has its own 30
        return
    mine, theirs = leasing_run(engine, "shared")
    assert [d.allowed for d in theirs] == [True] * 5 + [False] * 5
    assert [d.allowed for d in mine] == [True] * 13 + [False]
    assert 12 + sum(d.allowed for d in mine) + sum(d.allowed for d in theirs) == SLOW.burst


@pytest.mark.parametrize("scenario", ["expired", "closed"])
def test_unused_leased_units_go_back_to_the_shared_budget(
    backend: str, engine: Engine, scenario: str
) -> None:
    if backend == "sqlite":  # no leases: the one process's budget is spent hit by hit
        limiter = MemoryRateLimiter()
        hits = [limiter.hit(f"token:{scenario}", SLOW, time.time()) for _ in range(40)]
        assert sum(d.allowed for d in hits) == SLOW.burst
        return
    mine, theirs = leasing_run(engine, scenario)
    spent = 12 + len(mine)  # warm-up, the hit that leased, and (expired) the one after
    assert all(d.allowed for d in mine)
    assert sum(d.allowed for d in theirs) == SLOW.burst - spent
