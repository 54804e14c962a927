"""create_app(): composition only — the store, the catalogue, each feature's endpoints, routing
handlers, status-change subscribers, scheduled jobs and background loops."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from control_tower.alerts.endpoints import api as alerts_api
from control_tower.alerts.tasks import alert_jobs, alert_rate_handler, alert_status_subscriber
from control_tower.api_docs.endpoints import api as docs_api
from control_tower.auth.dependencies import build_identity
from control_tower.background import background_loops
from control_tower.backups.tasks import backup_jobs
from control_tower.catalog import Catalog, load_configured_catalog
from control_tower.context import AppContext
from control_tower.db import build_engine
from control_tower.events.correlations import correlation_handler
from control_tower.events.endpoints import api as events_api
from control_tower.health.endpoints import api as health_api
from control_tower.health.hooks import StatusChangeHook
from control_tower.health.tasks import StatusTracker, health_jobs
from control_tower.ingest.endpoints import api as ingest_api
from control_tower.integrations.github.endpoints import api as github_api
from control_tower.integrations.stripe.endpoints import api as stripe_api
from control_tower.kit.clock import Clock, SystemClock
from control_tower.kit.http_errors import install_error_handlers
from control_tower.kit.loops import BackgroundLoops
from control_tower.migrate import upgrade
from control_tower.notify.endpoints import api as notify_api
from control_tower.observability.endpoints import api as ops_api
from control_tower.observability.input_guard import RefuseNul
from control_tower.observability.metrics import Metrics
from control_tower.observability.middleware import RequestContextMiddleware
from control_tower.observability.otel import NO_TELEMETRY
from control_tower.observability.security_headers import SecurityHeaders
from control_tower.openapi import build_openapi
from control_tower.pollers.tasks import poller_jobs
from control_tower.reports.endpoints import api as reports_api
from control_tower.reports.rollups import report_handler
from control_tower.reports.tasks import report_jobs
from control_tower.routing.endpoints import api as dlq_api
from control_tower.routing.handlers import HandlerRegistry
from control_tower.routing.loop import RouterLoop
from control_tower.routing.router import Router, RouterConfig
from control_tower.runs.endpoints import api as runs_api
from control_tower.scheduler import JobRegistry, Scheduler
from control_tower.settings import Settings
from control_tower.web.app import create_web_app

API_VERSION = "0.1.0"


def routing_handlers(status: StatusTracker) -> HandlerRegistry:
    """What routing does with each event, feature by feature."""
    handlers = HandlerRegistry()
    handlers.add("health", status.handler)
    handlers.add("correlations", correlation_handler)
    handlers.add("reports", report_handler)
    handlers.add("alerts", alert_rate_handler)
    return handlers


def build_router(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    config: RouterConfig | None = None,
    *,
    status_changes: StatusChangeHook | None = None,
    name: str | None = None,
) -> tuple[Router, StatusTracker]:
    """A router with every feature's handlers, and health's tracker of what it touched."""
    hook = status_changes or StatusChangeHook()
    hook.subscribe(alert_status_subscriber(catalog))  # system_status rules hear each change
    status = StatusTracker(engine, catalog, hook)
    router = Router(engine, catalog, clock, config, routing_handlers(status), name=name)
    return router, status


def build_router_loop(ctx: AppContext, name: str | None = None) -> RouterLoop:
    router, status = build_router(
        ctx.engine, ctx.catalog, ctx.clock, ctx.router_config(),
        status_changes=ctx.status_changes, name=name,
    )  # fmt: skip
    return RouterLoop(router, ctx.metrics, after_pass=[status.after_pass])


def scheduled_jobs(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    *,
    data_dir: Path,
    status_changes: StatusChangeHook | None = None,
    metrics: Metrics | None = None,
    public_url: str | None = None,
) -> JobRegistry:
    """Every feature's periodic jobs, from its tasks.py (`ct serve` runs them, `ct jobs list`
    lists them)."""
    jobs = JobRegistry(poller_jobs(engine, catalog, clock, metrics=metrics))
    for job in health_jobs(engine, catalog, status_changes or StatusChangeHook()):
        jobs.add(job)
    for job in alert_jobs(engine, catalog):
        jobs.add(job)
    for job in backup_jobs(engine, catalog, clock, data_dir):
        jobs.add(job)
    for job in report_jobs(engine, catalog, clock, data_dir=data_dir, public_url=public_url):
        jobs.add(job)
    return jobs


def build_scheduler(ctx: AppContext) -> Scheduler:
    """The leader-only scheduler with every feature's periodic jobs."""
    jobs = scheduled_jobs(
        ctx.engine, ctx.catalog, ctx.clock, status_changes=ctx.status_changes, metrics=ctx.metrics,
        data_dir=ctx.settings.data_dir, public_url=ctx.settings.public_url,
    )  # fmt: skip
    return Scheduler(
        ctx.engine, ctx.clock, registry=jobs, tick_seconds=ctx.settings.scheduler_tick_seconds
    )


GC_YOUNG_THRESHOLD = 20_000


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(
            settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous
        )
        if migrate:
            upgrade(engine)
        ctx = AppContext.build(
            settings, engine, load_configured_catalog(settings.catalog), clock or SystemClock()
        )
        ctx.metrics = metrics
        app.state.ctx = ctx
        app.state.identity = build_identity(ctx)  # Firebase and service-account ID tokens
        await ctx.committer.start()
        router_loop = ctx.router_loop = build_router_loop(ctx) if settings.router_enabled else None
        if router_loop is not None:
            ctx.committer.on_commit.append(router_loop.wake)
            await router_loop.start()
        scheduler = build_scheduler(ctx) if settings.scheduler_enabled else None
        app.state.scheduler = scheduler
        if scheduler is not None:
            await scheduler.start()
        background = BackgroundLoops(
            background_loops(settings, engine, ctx.catalog, ctx.clock, ctx.master_key)
        )
        background.start()
        # What start-up built (the app, catalogue, schemas, SQLAlchemy metadata) lives as long
        # as the process: moved out of the cyclic collector's sight, it is not walked again at
        # every collection, which request garbage triggers often (docs/benchmarks.md).
        gc.freeze()
        # A request leaves a few hundred container objects behind, so the default threshold
        # (700 allocations) ran a young-generation collection every request or two; the
        # young generation stays small either way (docs/benchmarks.md).
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            await background.stop()
            if scheduler is not None:
                await scheduler.stop()
            if router_loop is not None:
                await router_loop.stop()
            await ctx.committer.stop()
            engine.dispose()

    app = FastAPI(
        title="Control Tower",
        version=API_VERSION,
        description="Health, events, runs and audit for Swan's internal systems.",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        docs_url=None,  # served from CT's own assets by docs_api, not from a CDN
        redoc_url=None,
    )
    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: logs them all
    install_error_handlers(app)
    for api in (ingest_api, events_api, ops_api, dlq_api, health_api, github_api, runs_api):
        app.include_router(api)
    app.include_router(notify_api)
    app.include_router(alerts_api)
    app.include_router(reports_api)
    app.include_router(stripe_api)
    app.include_router(docs_api)
    app.mount("/ui", create_web_app(app))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
