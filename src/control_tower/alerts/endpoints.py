"""HTTP doors onto alerts and silences."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query

from control_tower.alerts import service
from control_tower.alerts.schemas import (
    AckIn,
    Alert,
    AlertDetail,
    AlertPage,
    AlertStateName,
    Silence,
    SilenceIn,
    SilenceList,
)
from control_tower.auth.dependencies import (
    Context,
    RequireOperator,
    RequireViewer,
    json_body,
    json_request,
)
from control_tower.db import unit_of_work
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_SEQ

api = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, lt=MAX_SEQ)]
SilenceId = Annotated[int, Path(ge=1, lt=MAX_SEQ)]


ACK_CONFLICT = (
    "The alert is resolved (`alert_resolved`) or acknowledged already (`already_acknowledged`)"
)


def _errors(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": None, "description": text} for code, text in codes.items()}


@api.get("/alerts", response_model=AlertPage, summary="Alerts, newest first")
def get_alerts(
    _principal: RequireViewer,
    ctx: Context,
    state: AlertStateName | None = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AlertPage:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_alerts(
            conn,
            ctx.catalog,
            state=state,
            rule=rule,
            limit=limit,
            cursor=cursor,
            now=ctx.clock.now(),
        )


@api.get("/alerts/{alert_id}", response_model=AlertDetail, summary="One alert and its history")
def get_alert(alert_id: AlertId, _principal: RequireViewer, ctx: Context) -> AlertDetail:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.get_alert(conn, ctx.catalog, alert_id, ctx.clock.now())


@api.post(
    "/alerts/{alert_id}/ack",
    response_model=Alert,
    summary="Acknowledge a firing alert: no more reminders (audited)",
    responses=_errors({409: ACK_CONFLICT}),
    openapi_extra=json_request(AckIn, required=False),
)
async def ack_alert(
    alert_id: AlertId,
    principal: RequireOperator,
    body: Annotated[AckIn | None, Depends(json_body(AckIn, optional=True))],
    ctx: Context,
) -> Alert:
    def ack() -> Alert:
        with unit_of_work(ctx.engine) as conn:
            return service.acknowledge(
                conn,
                ctx.catalog,
                alert_id,
                actor=principal.name,
                comment=body.comment if body else None,
                now=ctx.clock.now(),
            )

    return await anyio.to_thread.run_sync(ack)


@api.get("/silences", response_model=SilenceList, summary="Silences, newest first")
def get_silences(
    _principal: RequireViewer,
    ctx: Context,
    include_ended: Annotated[
        bool, Query(description="Also expired and deleted silences (the newest 500).")
    ] = False,
) -> SilenceList:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_silences(conn, now=ctx.clock.now(), include_ended=include_ended)


@api.post(
    "/silences",
    status_code=201,
    response_model=Silence,
    summary="Silence alerts by rule and/or system until a time (audited)",
    openapi_extra=json_request(SilenceIn),
)
async def post_silence(
    principal: RequireOperator,
    body: Annotated[SilenceIn | None, Depends(json_body(SilenceIn))],
    ctx: Context,
) -> Silence:
    assert body is not None  # required: json_body refuses an empty body

    def create() -> Silence:
        with unit_of_work(ctx.engine) as conn:
            return service.create_silence(
                conn, ctx.catalog, body, actor=principal.name, now=ctx.clock.now()
            )

    return await anyio.to_thread.run_sync(create)


@api.delete(
    "/silences/{silence_id}",
    response_model=Silence,
    summary="End a silence now (audited)",
    responses=_errors({409: "The silence was deleted already (`silence_deleted`)"}),
)
def delete_silence(silence_id: SilenceId, principal: RequireOperator, ctx: Context) -> Silence:
    with unit_of_work(ctx.engine) as conn:
        return service.delete_silence(conn, silence_id, actor=principal.name, now=ctx.clock.now())
