"""HTTP doors onto the dead-letter queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from control_tower.auth.dependencies import Context, RequireMaintainer, RequireOperator
from control_tower.db import unit_of_work
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_tower.kit.query import UtcInstant
from control_tower.routing import dlq

api = APIRouter(tags=["dlq"])


@api.get("/dlq", response_model=dlq.DlqPage, summary="Dead events, newest first")
def get_dlq(
    _principal: RequireMaintainer,
    ctx: Context,
    since: Annotated[UtcInstant | None, Query(description="died at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dlq.DlqPage:
    with unit_of_work(ctx.engine, write=False) as conn:
        return dlq.list_dead(conn, limit, cursor, since)


@api.post(
    "/dlq/{event_id}/replay",
    response_model=dlq.ReplayResult,
    summary="Send a dead event back to the router (audited)",
)
def replay_dead(
    event_id: Annotated[str, Path(max_length=128)], principal: RequireOperator, ctx: Context
) -> dlq.ReplayResult:
    with unit_of_work(ctx.engine, write=True) as conn:
        result = dlq.replay(conn, [event_id], actor=principal.name, now=ctx.clock.now())
    if ctx.router_loop is not None:
        ctx.router_loop.wake()
    return result
