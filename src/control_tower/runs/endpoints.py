"""HTTP doors onto triggers and runs."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse

from control_tower.auth.dependencies import (
    Context,
    RequireOperator,
    RequireViewer,
    json_body,
    json_request,
)
from control_tower.db import unit_of_work
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_tower.kit.query import UtcInstant
from control_tower.runs import service
from control_tower.runs.repository import RunFilter
from control_tower.runs.schemas import (
    CancelResult,
    DryRunResult,
    Note,
    NoteIn,
    RunDetail,
    RunPage,
    RunStatus,
    TriggerAccepted,
    TriggerRequest,
)

api = APIRouter(tags=["runs"])

RunId = Annotated[str, Path(max_length=64)]


def _errors(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": None, "description": text} for code, text in codes.items()}


@api.post(
    "/triggers/{name}",
    status_code=202,
    response_model=TriggerAccepted,
    summary="Run an allowed trigger; answers its run_id",
    responses={
        200: {
            "description": "Duplicate (same Idempotency-Key or same inputs within the "
            "dedupe window): the earlier run; or, with dry_run=true, a DryRunResult",
        },
        **_errors(
            {
                401: "Missing or bad token",
                403: "The trigger needs a higher role",
                404: "No such trigger",
                409: "A guard refuses it now (details: guard, reason, allowed_from) or the "
                "Idempotency-Key was used for other inputs",
                422: "Inputs do not match the trigger's input_schema",
            }
        ),
    },
    openapi_extra=json_request(TriggerRequest, required=False),
)
async def post_trigger(
    name: Annotated[str, Path(max_length=128)],
    principal: RequireOperator,
    request: Annotated[TriggerRequest | None, Depends(json_body(TriggerRequest, optional=True))],
    ctx: Context,
    dry_run: Annotated[bool, Query(description="Check and show the call; create nothing")] = False,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> JSONResponse:
    caller = service.Caller(principal.name, principal.role)
    inputs = request.inputs if request else {}
    now = ctx.clock.now()
    if dry_run:

        def preview() -> DryRunResult:
            with unit_of_work(ctx.engine, write=False) as conn:
                return service.dry_run(
                    conn,
                    ctx.catalog,
                    name,
                    inputs,
                    caller=caller,
                    now=now,
                    base_url=ctx.settings.trigger_target_base_url,
                )

        result = await anyio.to_thread.run_sync(preview)
        return JSONResponse(result.model_dump(mode="json"), status_code=200)

    def start() -> TriggerAccepted:
        with unit_of_work(ctx.engine) as conn:
            return service.start_run(
                conn,
                ctx.catalog,
                name,
                inputs,
                caller=caller,
                now=now,
                idempotency_key=idempotency_key,
            )

    accepted = await anyio.to_thread.run_sync(start)
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=200 if accepted.duplicate else 202
    )


@api.get("/runs", response_model=RunPage, summary="List runs, newest first")
def get_runs(
    _principal: RequireViewer,
    ctx: Context,
    trigger: Annotated[str | None, Query(max_length=128)] = None,
    status: RunStatus | None = None,
    initiator: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[UtcInstant | None, Query(description="created_at ≥ since")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RunPage:
    flt = RunFilter(trigger, status.value if status else None, initiator, since)
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_runs(conn, flt, limit, cursor)


@api.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="One run with its transitions, metrics, notes and correlated events",
)
def get_run(run_id: RunId, _principal: RequireViewer, ctx: Context) -> RunDetail:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.get_run(conn, run_id)


@api.post(
    "/runs/{run_id}/cancel",
    response_model=CancelResult,
    summary="Cancel a queued or running run",
    responses={
        202: {"model": CancelResult, "description": "Mid-call: the worker will cancel it"},
        **_errors({404: "No such run", 409: "The run already finished"}),
    },
)
def cancel_run(run_id: RunId, principal: RequireOperator, ctx: Context) -> JSONResponse:
    with unit_of_work(ctx.engine) as conn:
        result = service.cancel_run(
            conn, ctx.catalog, run_id, actor=principal.name, now=ctx.clock.now()
        )
    code = 200 if result.status is RunStatus.cancelled else 202
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


@api.post(
    "/runs/{run_id}/notes",
    status_code=201,
    response_model=Note,
    summary="Append a note to a run (notes are never edited)",
    responses=_errors({404: "No such run"}),
    openapi_extra=json_request(NoteIn),
)
async def post_note(
    run_id: RunId,
    principal: RequireOperator,
    note: Annotated[NoteIn | None, Depends(json_body(NoteIn))],
    ctx: Context,
) -> Note:
    assert note is not None  # required: json_body refuses an empty body

    def add() -> Note:
        with unit_of_work(ctx.engine) as conn:
            return service.add_note(
                conn, run_id, note.text, author=principal.name, now=ctx.clock.now()
            )

    return await anyio.to_thread.run_sync(add)
