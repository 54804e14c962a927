"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_tower.auth.dependencies import Context, RequireMetricsReader
from control_tower.context import AppContext
from control_tower.dashboards.metrics import refresh_gauges
from control_tower.db import ping, unit_of_work
from control_tower.routing import dlq

api = APIRouter(tags=["operations"])


@api.get("/healthz", summary="Alive (no auth)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@api.get(
    "/readyz",
    summary="Store reachable (no auth)",
    responses={503: {"description": "Store unreachable"}},
)
async def readyz(ctx: Context) -> JSONResponse:
    try:
        await anyio.to_thread.run_sync(ping, ctx.engine)
    except Exception as exc:
        # Why, in a line an operator can act on (the driver's message names the host and port
        # it could not reach; never a password).
        first_line = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        body = {
            "status": "unavailable",
            "store": ctx.engine.dialect.name,
            "error": type(exc).__name__,
            "reason": first_line[:300],
        }
        return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})
    return JSONResponse({"status": "ready", "store": ctx.engine.dialect.name})


@api.get(
    "/metrics",
    summary="Prometheus metrics (viewer+ unless CT_METRICS_PUBLIC)",
    response_class=Response,
)
async def metrics(_reader: RequireMetricsReader, ctx: Context) -> Response:
    await anyio.to_thread.run_sync(_refresh_store_gauges, ctx)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _refresh_store_gauges(ctx: AppContext) -> None:
    with unit_of_work(ctx.engine, write=False) as conn:
        counts = dlq.count_routes(conn, "dead", "retrying", "pending")
        # The dashboards' gauges (what Grafana draws), at most once per their refresh.
        refresh_gauges(conn, ctx.catalog, ctx.clock.now(), ctx.metrics)
    ctx.metrics.dlq_depth.set(counts["dead"])
    ctx.metrics.retrying.set(counts["retrying"])
    ctx.metrics.pending.set(counts["pending"])
