"""HTTP doors onto ingest and the event stream."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from control_tower.auth.dependencies import (
    Context,
    RequireMaintainer,
    RequireProducer,
    get_context,
)
from control_tower.auth.principal import Principal
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.events import service
from control_tower.events.ingest import (
    PreparedEvent,
    parse_json,
    prepare_event,
    read_bounded_body,
    require_json,
    verify_signature,
)
from control_tower.events.repository import EventFilter
from control_tower.events.schemas import (
    BatchItemResult,
    BatchResult,
    Event,
    EventPage,
    IngestResult,
    IngestStatus,
)
from control_tower.kit.errors import Conflict, CTError, Unprocessable
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["events"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": None, "description": text}
    for code, text in {
        400: "Malformed JSON or cursor",
        401: "Missing or bad token or signature",
        403: "Role or source not allowed",
        409: "Same event_id with different content",
        413: "Body over the limit",
        415: "Not application/json",
        422: "Envelope or payload invalid",
        429: "Rate limit exceeded",
    }.items()
}


async def event_body(request: Request) -> bytes:
    return await read_bounded_body(request, get_context(request).settings.max_event_bytes)


async def batch_body(request: Request) -> bytes:
    return await read_bounded_body(request, get_context(request).settings.max_batch_bytes)


# Declared before the principal so the size check runs first (DESIGN §4 order of checks).
EventBody = Annotated[bytes, Depends(event_body)]
BatchBody = Annotated[bytes, Depends(batch_body)]


def _checked_json(request: Request, body: bytes, principal: Principal, ctx: AppContext) -> Any:
    verify_signature(
        body=body,
        signature=request.headers.get("x-ct-signature"),
        timestamp=request.headers.get("x-ct-timestamp"),
        principal=principal,
        master_key=ctx.master_key,
        now=ctx.clock.now(),
        tolerance_seconds=ctx.settings.signature_tolerance_seconds,
    )
    require_json(request)
    return parse_json(body)


def _type_label(ctx: AppContext, raw: Any) -> str:
    etype = raw.get("type") if isinstance(raw, dict) else None
    return etype if isinstance(etype, str) and ctx.catalog.event_type(etype) else "unknown"


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResult,
    summary="Ingest one signed event",
    responses={
        200: {"model": IngestResult, "description": "Duplicate of a stored event"},
        **ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventIn"}}},
        }
    },
)
async def post_event(request: Request, body: EventBody, principal: RequireProducer) -> JSONResponse:
    started = time.perf_counter()
    ctx = get_context(request)  # not a dependency: each one costs on the hottest route
    source = principal.source or "unknown"
    raw: Any = None
    try:
        raw = _checked_json(request, body, principal, ctx)
        prepared = prepare_event(raw, principal, ctx.catalog, ctx.clock.now())
        if prepared.row["correlation_id"]:
            # Validated as an Identifier, so safe to log; the access line then carries it.
            structlog.contextvars.bind_contextvars(correlation_id=prepared.row["correlation_id"])
        [outcome] = await ctx.committer.submit([prepared.row])
    except CTError:
        ctx.metrics.events_ingested.labels(source, _type_label(ctx, raw), "rejected").inc()
        raise
    finally:
        ctx.metrics.ingest_latency.labels("single").observe(time.perf_counter() - started)
    ctx.metrics.events_ingested.labels(source, prepared.row["type"], outcome.kind).inc()
    if outcome.kind == "conflict":
        raise Conflict(
            f"event_id {outcome.event_id!r} was already used for different content",
            code="event_id_conflict",
            details={"event_id": outcome.event_id},
        )
    result = IngestResult(
        event_id=outcome.event_id,
        status=IngestStatus(outcome.status),
        duplicate=outcome.kind == "duplicate",
        redactions=prepared.redactions,
    )
    return JSONResponse(
        result.model_dump(mode="json"), status_code=202 if outcome.kind == "accepted" else 200
    )


@router.post(
    "/events/batch",
    response_model=BatchResult,
    summary="Ingest up to 500 events under one signature; answers per item",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}},
        }
    },
)
async def post_event_batch(
    request: Request, body: BatchBody, principal: RequireProducer
) -> JSONResponse:
    started = time.perf_counter()
    ctx = get_context(request)
    try:
        result = await _ingest_batch(request, body, principal, ctx)
    finally:
        ctx.metrics.ingest_latency.labels("batch").observe(time.perf_counter() - started)
    # Built and checked as a BatchResult already; answering it directly skips FastAPI's
    # second validation of up to 500 items against response_model (still used for OpenAPI).
    return JSONResponse(result.model_dump(mode="json"))


async def _ingest_batch(
    request: Request, body: bytes, principal: Principal, ctx: AppContext
) -> BatchResult:
    raw = _checked_json(request, body, principal, ctx)
    items = raw.get("events") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise Unprocessable(
            'a batch is {"events": [event, …]} with at least one event',
            details=[{"field": "events", "message": "must be a non-empty list"}],
        )
    if len(items) > ctx.settings.max_batch_events:
        raise Unprocessable(
            f"a batch holds at most {ctx.settings.max_batch_events} events, got {len(items)}",
            details=[{"field": "events", "message": "too many events"}],
        )
    source = principal.source or "unknown"
    now = ctx.clock.now()
    results: list[BatchItemResult | None] = [None] * len(items)
    prepared: list[tuple[int, PreparedEvent]] = []
    for index, item in enumerate(items):
        try:
            prepared.append((index, prepare_event(item, principal, ctx.catalog, now)))
        except CTError as exc:
            event_id = item.get("event_id", item.get("eventId")) if isinstance(item, dict) else None
            results[index] = BatchItemResult(
                index=index,
                event_id=event_id if isinstance(event_id, str) else None,
                status=exc.status_code,
                error=exc.body()["error"],
            )
            ctx.metrics.events_ingested.labels(source, _type_label(ctx, item), "rejected").inc()
    outcomes = await ctx.committer.submit([p.row for _, p in prepared]) if prepared else []
    for (index, prep), outcome in zip(prepared, outcomes, strict=True):
        ctx.metrics.events_ingested.labels(source, prep.row["type"], outcome.kind).inc()
        status = {"accepted": 202, "duplicate": 200, "conflict": 409}[outcome.kind]
        error = (
            Conflict(
                f"event_id {outcome.event_id!r} was already used for different content"
            ).body()["error"]
            if outcome.kind == "conflict"
            else None
        )
        results[index] = BatchItemResult(
            index=index,
            event_id=outcome.event_id,
            status=status,
            duplicate=outcome.kind == "duplicate",
            error=error,
        )
    final = [r for r in results if r is not None]
    return BatchResult(
        accepted=sum(1 for r in final if r.status == 202),
        duplicates=sum(1 for r in final if r.duplicate),
        rejected=sum(1 for r in final if r.status >= 400),
        results=final,
    )


def _refuse_nul(name: str, value: str | None) -> None:
    # PostgreSQL refuses U+0000 in a text parameter; answer 422 instead of failing the query.
    if value is not None and "\x00" in value:
        raise Unprocessable(
            f"{name} may not contain U+0000", details=[{"field": name, "message": "U+0000"}]
        )


def _utc_bound(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Unprocessable(
            f"{name} must carry a UTC offset", details=[{"field": name, "message": "naive"}]
        )
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise Unprocessable(
            f"{name} is out of range", details=[{"field": name, "message": "out of range"}]
        ) from exc


@router.get("/events", response_model=EventPage, summary="List events, newest first")
def get_events(
    _principal: RequireMaintainer,
    ctx: Context,
    type: Annotated[str | None, Query(max_length=128)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    correlation_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="occurred_at ≥ since")] = None,
    until: Annotated[datetime | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventPage:
    for name, text in (("type", type), ("source", source), ("correlation_id", correlation_id)):
        _refuse_nul(name, text)
    flt = EventFilter(
        type, source, correlation_id, _utc_bound("since", since), _utc_bound("until", until)
    )
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_events(conn, flt, limit, cursor)


@router.get("/events/{event_id}", response_model=Event, summary="One event")
def get_event(
    event_id: Annotated[str, Path(max_length=128)], _principal: RequireMaintainer, ctx: Context
) -> Event:
    _refuse_nul("event_id", event_id)
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.get_event(conn, event_id)
