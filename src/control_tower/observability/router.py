"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import anyio.to_thread
import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_tower.auth.dependencies import authenticate, get_context
from control_tower.auth.roles import Role, has_role
from control_tower.context import AppContext
from control_tower.db import ping, unit_of_work
from control_tower.events import dlq
from control_tower.kit.errors import Forbidden

log = structlog.get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive (no auth)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Store reachable (no auth)",
    responses={503: {"description": "Store unreachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    ctx = get_context(request)
    try:
        await anyio.to_thread.run_sync(ping, ctx.engine)
    except Exception as exc:
        body = {
            "status": "unavailable",
            "store": ctx.engine.dialect.name,
            "error": type(exc).__name__,
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "store": ctx.engine.dialect.name})


@router.get(
    "/metrics",
    summary="Prometheus metrics (viewer+ unless CT_METRICS_PUBLIC)",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    ctx = get_context(request)
    if not ctx.settings.metrics_public:
        principal = await authenticate(request)
        if not has_role(principal.role, Role.viewer):
            raise Forbidden("metrics need the viewer role", code="insufficient_role")
    await anyio.to_thread.run_sync(_refresh_store_gauges, ctx)
    router_text = await _router_child_metrics(ctx)
    body = generate_latest(ctx.metrics.registry) + router_text
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _router_child_metrics(ctx: AppContext) -> bytes:
    """The router child's counters (`ct serve` runs the router apart), or nothing."""
    url, up = ctx.settings.router_metrics_url, ctx.metrics.router_up
    if url is None or up is None:
        return b""
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            answer = await client.get(url)
            answer.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("router_metrics_unavailable", error=type(exc).__name__)
        up.set(0)
        return b""
    up.set(1)
    return answer.content


def _refresh_store_gauges(ctx: AppContext) -> None:
    with unit_of_work(ctx.engine, write=False) as conn:
        counts = dlq.count_routes(conn, "dead", "retrying", "pending")
    ctx.metrics.dlq_depth.set(counts["dead"])
    ctx.metrics.retrying.set(counts["retrying"])
    ctx.metrics.pending.set(counts["pending"])


metrics.required_role = Role.viewer  # type: ignore[attr-defined]
