"""HTTP doors onto health: the overview, systems, and one system with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from control_tower.auth.dependencies import Context, RequireViewer
from control_tower.db import unit_of_work
from control_tower.health import service
from control_tower.health.schemas import HealthOverview, System, SystemDetail

api = APIRouter(tags=["health"])


@api.get("/health", response_model=HealthOverview, summary="Overall and per-system health")
def get_health(_principal: RequireViewer, ctx: Context) -> HealthOverview:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.overview(conn, ctx.catalog, ctx.clock.now())


@api.get("/systems", response_model=list[System], summary="Systems with SLO evaluation")
def get_systems(_principal: RequireViewer, ctx: Context) -> list[System]:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_systems(conn, ctx.catalog, ctx.clock.now())


@api.get(
    "/systems/{system_id}",
    response_model=SystemDetail,
    summary="One system: status, reasons, SLOs, recent status changes",
)
def get_system(
    system_id: Annotated[str, Path(max_length=32)], _principal: RequireViewer, ctx: Context
) -> SystemDetail:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.system_detail(conn, ctx.catalog, system_id, ctx.clock.now())
