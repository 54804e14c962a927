"""Where rate-limit state lives: per process on SQLite, shared through PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from control_tower.auth.rate_limit import Limit, MemoryRateLimiter, PostgresRateLimiter


def allowed(limiter: MemoryRateLimiter | PostgresRateLimiter, hits: int, now: float) -> int:
    return sum(limiter.hit("token:t1", Limit(60, 5), now).allowed for _ in range(hits))


def test_two_processes_share_one_budget_only_on_postgresql(backend: str, engine: Engine) -> None:
    now = time.time()
    if backend == "postgresql":
        first, second = PostgresRateLimiter(engine), PostgresRateLimiter(engine)
        try:
            assert allowed(first, 4, now) + allowed(second, 4, now) == 5
            with first._engine.connect() as conn:  # its sessions commit asynchronously
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        finally:
            first.close()
            second.close()
    else:
        one, other = MemoryRateLimiter(), MemoryRateLimiter()
        assert allowed(one, 4, now) + allowed(other, 4, now) == 8
