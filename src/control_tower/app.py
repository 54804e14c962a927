"""create_app(): the FastAPI app; the store, catalogue and background work start in its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from control_tower.background import background_loops
from control_tower.catalog import Catalog, load_catalog, load_default_catalog
from control_tower.context import AppContext
from control_tower.db import build_engine
from control_tower.events.dlq_router import router as dlq_router
from control_tower.events.router import ingest_routes
from control_tower.events.router import router as events_router
from control_tower.events.router_loop import RouterLoop
from control_tower.events.schemas import EventIn
from control_tower.health.router import router as health_router
from control_tower.integrations.github import router as github_router
from control_tower.kit.clock import Clock, SystemClock
from control_tower.kit.direct_routes import DirectRoutes
from control_tower.kit.http_errors import install_error_handlers
from control_tower.kit.loops import BackgroundLoops
from control_tower.migrate import upgrade
from control_tower.observability.metrics import Metrics
from control_tower.observability.middleware import RequestContextMiddleware
from control_tower.observability.otel import NO_TELEMETRY
from control_tower.observability.router import router as ops_router
from control_tower.pollers.service import poller_jobs
from control_tower.runs.router import router as runs_router
from control_tower.scheduler import Scheduler
from control_tower.settings import Settings
from control_tower.web.app import create_web_app

API_VERSION = "0.1.0"


def load_configured_catalog(settings: Settings) -> Catalog:
    return load_catalog(settings.catalog) if settings.catalog else load_default_catalog()


class ControlTowerApp(FastAPI):
    """The API's FastAPI app, with its context as a plain attribute once the lifespan has
    started (`get_context`): `app.state.ctx`, kept for the UI, is found by Starlette's
    `State.__getattr__` after a failed ordinary lookup, ≈ 1.5 µs each time, several times per
    request.

    HTTP requests enter through `front`: the request context (id, access line, metrics), then
    the direct ingest routes, then FastAPI's own stack for everything else."""

    ctx: AppContext
    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self.front(scope, receive, send)

    async def fastapi_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics(router_child=settings.router_metrics_url is not None)

    @asynccontextmanager
    async def lifespan(app: ControlTowerApp) -> AsyncIterator[None]:
        engine = build_engine(
            settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous
        )
        if migrate:
            upgrade(engine)
        ctx = AppContext.build(
            settings, engine, load_configured_catalog(settings), clock or SystemClock()
        )
        ctx.metrics = metrics
        app.state.ctx = app.ctx = ctx
        await ctx.committer.start()
        if settings.router_enabled:
            ctx.router_loop = RouterLoop(ctx.new_router(), metrics)
            ctx.committer.on_commit.append(ctx.router_loop.wake)
            await ctx.router_loop.start()
        scheduler = build_scheduler(ctx) if settings.scheduler_enabled else None
        app.state.scheduler = scheduler
        if scheduler is not None:
            await scheduler.start()
        background = BackgroundLoops(
            background_loops(settings, engine, ctx.catalog, ctx.clock, ctx.master_key)
        )
        background.start()
        # Everything built so far (app, catalogue, schemas, SQLAlchemy metadata) lives as
        # long as the process: keep it out of the cyclic collector's full passes, which
        # otherwise cost about 50 µs per ingested event (measured, docs/benchmarks.md). The
        # youngest generation is collected every 10,000 allocations instead of 700: each pass
        # walks the objects of every request in flight, most of which die by refcount before
        # the next one (single-event ingest +9 %, measured).
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        try:
            yield
        finally:
            await background.stop()
            if scheduler is not None:
                await scheduler.stop()
            if ctx.router_loop is not None:
                await ctx.router_loop.stop()
            await ctx.committer.stop()
            await ctx.close()
            engine.dispose()

    app = ControlTowerApp(
        title="Control Tower",
        version=API_VERSION,
        description="Health, events, runs and audit for Swan's internal systems.",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    install_error_handlers(app)
    app.include_router(events_router)  # first: routes are matched in order, ingest is hottest
    app.include_router(ops_router)
    app.include_router(dlq_router)
    app.include_router(health_router)
    app.include_router(github_router)
    app.include_router(runs_router)
    app.mount("/ui", create_web_app(app))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.front = RequestContextMiddleware(DirectRoutes(app.fastapi_stack, ingest_routes()), metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def build_scheduler(ctx: AppContext) -> Scheduler:
    """The leader-only scheduler with every feature's periodic jobs."""
    scheduler = Scheduler(ctx.engine, ctx.clock, tick_seconds=ctx.settings.scheduler_tick_seconds)
    for job in poller_jobs(ctx.engine, ctx.catalog, ctx.clock, metrics=ctx.metrics):
        scheduler.register(job)
    return scheduler


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    event_in = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(event_in.pop("$defs", {}))
    components["EventIn"] = event_in
    components["BatchIn"] = {
        "title": "BatchIn",
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": {"$ref": "#/components/schemas/EventIn"},
            }
        },
    }
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "signature": {"type": "apiKey", "in": "header", "name": "X-CT-Signature"},
    }
    app.openapi_schema = schema
    return schema
