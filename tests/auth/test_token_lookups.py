"""Bearer tokens are looked up in the store once per cache period, however many requests wait."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.catalog import load_configured_catalog
from control_tower.context import AppContext
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.conftest import issue_token


def test_concurrent_misses_share_one_store_lookup(
    engine: Engine, settings: Settings, clock: FrozenClock
) -> None:
    issued = issue_token(engine, "burst-producer", Role.producer, "backend", now=clock.now())
    ctx = AppContext.build(settings, engine, load_configured_catalog(settings.catalog), clock)

    async def burst(token: str, n: int) -> list[object]:
        return list(await asyncio.gather(*(ctx.resolve_token(token) for _ in range(n))))

    found = asyncio.run(burst(issued.token, 30))
    assert ctx.store_token_lookups == 1
    assert {getattr(p, "name", None) for p in found} == {"burst-producer"}
    # An unknown token is looked up (once) and refused for all who sent it.
    unknown = asyncio.run(burst("ct_not-a-token", 10))
    assert unknown == [None] * 10
    assert ctx.store_token_lookups == 2
