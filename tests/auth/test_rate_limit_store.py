"""Where rate-limit state lives: per process on SQLite, shared through PostgreSQL.

The PostgreSQL limiter must answer exactly as the in-memory one does; the tests below use the
in-memory limiter as the reference on both backends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, insert, select, text

from control_tower.auth.rate_limit import (
    EXPIRY_MARGIN_SECONDS,
    AsyncPostgresRateLimiter,
    Decision,
    Limit,
    MemoryRateLimiter,
    expire_idle_rate_limits,
)
from control_tower.db import libpq_conninfo
from control_tower.models import rate_limits

LIMIT = Limit(60, 5)  # one unit a second, five at once
SLOW = Limit(1, 5)  # one unit a minute: nothing refills while a test runs


def memory_hits(key: str, limit: Limit, times: list[float]) -> list[Decision]:
    limiter = MemoryRateLimiter()
    return [limiter.hit(key, limit, now) for now in times]


async def postgres_hits(
    limiter: AsyncPostgresRateLimiter, key: str, limit: Limit, times: list[float]
) -> list[Decision]:
    return [await limiter.hit_async(key, limit, now) for now in times]


def test_a_burst_is_allowed_then_refused_with_the_rate_limit_headers(
    backend: str, engine: Engine
) -> None:
    now = time.time()
    times = [now] * 7
    expected = memory_hits("token:t1", LIMIT, times)
    assert [d.allowed for d in expected] == [True] * 5 + [False] * 2
    assert expected[0].headers() == {
        "ratelimit-limit": "5",
        "ratelimit-remaining": "4",
        "ratelimit-reset": "1",
        "ratelimit-policy": "5;w=60;rate=60",
    }
    assert [d.remaining for d in expected[:5]] == [4, 3, 2, 1, 0]
    assert expected[5].headers() == {
        "ratelimit-limit": "5",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "6",
        "ratelimit-policy": "5;w=60;rate=60",
        "retry-after": "1",
    }
    if backend == "sqlite":
        return

    async def run() -> list[Decision]:
        limiter = AsyncPostgresRateLimiter(engine)
        try:
            return await postgres_hits(limiter, "token:t1", LIMIT, times)
        finally:
            await limiter.aclose()

    assert asyncio.run(run()) == expected
    # A refused hit spends nothing: the budget refills from the last allowed one.
    with engine.connect() as conn:
        assert conn.execute(select(rate_limits.c.tat)).scalar_one() == pytest.approx(now + 5)


def test_two_replicas_share_one_budget_only_on_postgresql(backend: str, engine: Engine) -> None:
    now = time.time()
    if backend == "sqlite":  # one process per deployment: each limiter has its own budget
        one, other = MemoryRateLimiter(), MemoryRateLimiter()
        allowed = [one.hit("token:t2", SLOW, now).allowed for _ in range(4)]
        allowed += [other.hit("token:t2", SLOW, now).allowed for _ in range(4)]
        assert sum(allowed) == 8
        return

    async def run() -> tuple[list[Decision], list[Decision]]:
        replica_a, replica_b = AsyncPostgresRateLimiter(engine), AsyncPostgresRateLimiter(engine)
        try:
            hits_a = await postgres_hits(replica_a, "token:t2", SLOW, [now] * 4)
            hits_b = await postgres_hits(replica_b, "token:t2", SLOW, [now] * 4)
            # Its sessions commit asynchronously.
            show = await replica_a._idle[0].execute("SHOW synchronous_commit")
            assert await show.fetchone() == ("off",)
            return hits_a, hits_b
        finally:
            await replica_a.aclose()
            await replica_b.aclose()

    hits_a, hits_b = asyncio.run(run())
    assert hits_a + hits_b == memory_hits("token:t2", SLOW, [now] * 8)


def test_concurrent_hits_on_two_replicas_never_exceed_the_burst(
    backend: str, engine: Engine
) -> None:
    now = time.time()
    limit = Limit(1, 40)  # nothing refills while the test runs
    if backend == "sqlite":
        limiter = MemoryRateLimiter()
        assert sum(limiter.hit("token:t3", limit, now).allowed for _ in range(100)) == 40
        return

    async def run() -> list[Decision]:
        replicas = [AsyncPostgresRateLimiter(engine), AsyncPostgresRateLimiter(engine)]

        def hits(key: str, count: int) -> list[Coroutine[Any, Any, Decision]]:
            return [replicas[i % 2].hit_async(key, limit, now) for i in range(count)]

        try:
            await asyncio.gather(*hits("token:warm-up", 32))  # opens all 16 connections
            # A fresh key: 16 statements at a time race to create its row, then to spend it.
            return await asyncio.gather(*hits("token:t3", 100))
        finally:
            for replica in replicas:
                await replica.aclose()

    decisions = asyncio.run(run())
    allowed = [d for d in decisions if d.allowed]
    # Each unit granted once: the allowed hits count the budget down from 39 to 0.
    assert sorted(d.remaining for d in allowed) == list(range(40))
    assert all(d.retry_after_seconds >= 1 for d in decisions if not d.allowed)


def test_a_key_created_by_another_replica_at_the_same_moment_is_decided_from_its_row(
    backend: str, engine: Engine
) -> None:
    """The hit does not see the other replica's row yet, meets it when writing, and runs again."""
    now = time.time()
    expected = memory_hits("token:t4", LIMIT, [now] * 4)[-1]  # three spent by the other replica
    assert expected.remaining == 1
    if backend == "sqlite":
        return

    async def run() -> Decision:
        limiter = AsyncPostgresRateLimiter(engine)
        other = await psycopg.AsyncConnection.connect(libpq_conninfo(engine))
        try:
            await other.execute(
                "INSERT INTO rate_limits (key, tat) VALUES (%s, %s)",
                ("token:t4", now + 3 * LIMIT.interval),
            )  # not committed yet
            hit = asyncio.create_task(limiter.hit_async("token:t4", LIMIT, now))
            await asyncio.sleep(0.3)
            assert not hit.done(), "the hit did not wait for the other replica's row"
            await other.commit()
            return await hit
        finally:
            await other.close()
            await limiter.aclose()

    assert asyncio.run(run()) == expected


@pytest.mark.parametrize("breakage", ["closed", "terminated"])
def test_a_broken_connection_is_replaced_and_the_hit_still_answers(
    backend: str, engine: Engine, breakage: str
) -> None:
    now = time.time()
    expected = memory_hits("token:t5", LIMIT, [now] * 3)
    if backend == "sqlite":
        assert [d.remaining for d in expected] == [4, 3, 2]
        return

    async def run() -> list[Decision]:
        limiter = AsyncPostgresRateLimiter(engine, size=1)
        try:
            first = await limiter.hit_async("token:t5", LIMIT, now)
            (conn,) = limiter._idle
            if breakage == "closed":
                await conn.close()
            else:
                with engine.connect() as admin:
                    pid = conn.info.backend_pid
                    stopped = admin.execute(
                        text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                    )
                    assert stopped.scalar_one()
            rest = await postgres_hits(limiter, "token:t5", LIMIT, [now] * 2)
            assert limiter._idle != [conn]
            return [first, *rest]
        finally:
            await limiter.aclose()

    assert asyncio.run(run()) == expected


def test_expiry_deletes_only_rows_idle_for_longer_than_the_margin(engine: Engine) -> None:
    """On both stores: the function is plain SQLAlchemy Core."""
    now = datetime.now(UTC)
    instant = now.timestamp()
    rows = {
        "addr:192.0.2.1": instant - EXPIRY_MARGIN_SECONDS - 3600,  # idle for an hour: expires
        "addr:192.0.2.2": instant - EXPIRY_MARGIN_SECONDS / 2,  # full, within the margin
        "token:busy": instant + 30,  # partly spent
    }
    with engine.begin() as conn:
        conn.execute(insert(rate_limits), [{"key": k, "tat": t} for k, t in rows.items()])
    with engine.begin() as conn:
        assert expire_idle_rate_limits(conn, now) == 1
    with engine.begin() as conn:
        assert expire_idle_rate_limits(conn, instant) == 0  # a float instant works too
        assert set(conn.execute(select(rate_limits.c.key)).scalars()) == {
            "addr:192.0.2.2",
            "token:busy",
        }


def test_decisions_are_the_same_before_and_after_expiry(backend: str, engine: Engine) -> None:
    now = time.time()
    earlier = now - EXPIRY_MARGIN_SECONDS - 600
    later_hits = [now] * 7
    # The reference never forgets: three units spent long ago, three just now.
    idle = memory_hits("addr:198.51.100.7", LIMIT, [earlier] * 3 + later_hits)[3:]
    busy = memory_hits("token:t6", LIMIT, [now] * 3 + later_hits)[3:]
    assert [d.remaining for d in idle[:5]] == [4, 3, 2, 1, 0]  # long refilled
    assert [d.remaining for d in busy[:2]] == [1, 0]
    if backend == "sqlite":  # the in-memory limiter writes no rows: nothing to expire
        MemoryRateLimiter().hit("addr:198.51.100.7", LIMIT, now)
        with engine.begin() as conn:
            assert expire_idle_rate_limits(conn, now) == 0
        return

    async def run() -> tuple[list[Decision], list[Decision]]:
        limiter = AsyncPostgresRateLimiter(engine)
        try:
            await postgres_hits(limiter, "addr:198.51.100.7", LIMIT, [earlier] * 3)
            await postgres_hits(limiter, "token:t6", LIMIT, [now] * 3)
            with engine.begin() as conn:
                assert expire_idle_rate_limits(conn, now) == 1
                assert conn.execute(select(rate_limits.c.key)).scalars().all() == ["token:t6"]
            return (
                await postgres_hits(limiter, "addr:198.51.100.7", LIMIT, later_hits),
                await postgres_hits(limiter, "token:t6", LIMIT, later_hits),
            )
        finally:
            await limiter.aclose()

    assert asyncio.run(run()) == (idle, busy)
