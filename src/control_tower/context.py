"""What a running CT holds: settings, store, catalogue, clock, the committer, caches.

Built in the app's lifespan (or by `ct worker`); routes reach it through the `Context`
dependency.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

import anyio.to_thread
from sqlalchemy import Engine

from control_tower.auth.principal import Principal
from control_tower.auth.rate_limit import Decision, Limit, RateLimiter
from control_tower.auth.token_cache import TokenCache
from control_tower.auth.tokens import SigningKeys, hash_token, resolve_token
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health.hooks import StatusChangeHook
from control_tower.ingest.committer import GroupCommitter
from control_tower.kit.clock import Clock
from control_tower.observability.metrics import Metrics
from control_tower.routing.loop import RouterLoop
from control_tower.routing.router import RouterConfig
from control_tower.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    catalog: Catalog
    clock: Clock
    master_key: bytes
    committer: GroupCommitter
    metrics: Metrics = field(default_factory=Metrics)
    token_cache: TokenCache = field(default_factory=lambda: TokenCache(2.0))
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    status_changes: StatusChangeHook = field(default_factory=StatusChangeHook)
    router_loop: RouterLoop | None = None  # this process's router, if it runs one
    signing_keys: SigningKeys = field(init=False, repr=False)
    _token_lookups: dict[str, asyncio.Task[Principal | None]] = field(
        default_factory=dict, repr=False
    )
    store_token_lookups: int = 0  # how often a bearer token was looked up in the store

    def __post_init__(self) -> None:
        self.signing_keys = SigningKeys(self.master_key)

    def router_config(self) -> RouterConfig:
        s = self.settings
        return RouterConfig(
            batch_size=s.router_batch_size,
            lease_seconds=s.router_lease_seconds,
            max_attempts=s.router_max_attempts,
            backoff_base_seconds=s.router_backoff_base_seconds,
            backoff_max_seconds=s.router_backoff_max_seconds,
        )

    @classmethod
    def build(
        cls, settings: Settings, engine: Engine, catalog: Catalog, clock: Clock
    ) -> AppContext:
        return cls(
            settings=settings,
            engine=engine,
            catalog=catalog,
            clock=clock,
            master_key=settings.master_key(),
            committer=GroupCommitter(engine, settings.group_commit_max_events),
            token_cache=TokenCache(settings.token_cache_seconds),
        )

    async def resolve_token(self, token: str) -> Principal | None:
        digest = hash_token(token)
        now = self.clock.now()
        hit, principal = self.token_cache.get(digest, now)
        if hit:
            return principal
        # Single flight: when a cache entry expires under load, the requests that miss at
        # once share one store lookup instead of each opening a connection of their own.
        loop = asyncio.get_running_loop()
        pending = self._token_lookups.get(digest)
        if pending is None or pending.get_loop() is not loop:
            pending = loop.create_task(self._lookup_token(token, digest, now))
            self._token_lookups[digest] = pending
        return await asyncio.shield(pending)

    async def _lookup_token(self, token: str, digest: str, now: datetime) -> Principal | None:
        self.store_token_lookups += 1

        def lookup() -> Principal | None:
            with unit_of_work(self.engine, write=False) as conn:
                return resolve_token(conn, token, now)

        try:
            principal = await anyio.to_thread.run_sync(lookup)
            self.token_cache.put(digest, principal)
            return principal
        finally:
            if self._token_lookups.get(digest) is asyncio.current_task():
                del self._token_lookups[digest]

    def limit_for(self, principal: Principal | None) -> Limit:
        if principal is None:
            per_minute = self.settings.anonymous_rate_limit_per_minute
            return Limit(per_minute, per_minute)
        return Limit(
            principal.rate_per_minute or self.settings.rate_limit_per_minute,
            principal.burst or self.settings.rate_limit_burst,
        )

    async def rate_hit(self, key: str, limit: Limit) -> Decision:
        # Rate limits are wall-clock by nature; the app's clock drives business rules only.
        return self.rate_limiter.hit(key, limit, time.time())
