"""`POST /events` and `POST /events/batch`: signed events from producers.

Checks in the documented order (docs/ingest.md): the declared size, then the producer's token
and rate limit, then the body is read within its limit, then the signature, the content type,
the JSON, and each event against the catalogue.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency parameters of the
# functions `signed_json` builds, whose annotations name its local `declared_size`.
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from control_tower.auth.dependencies import authenticate, check_role, context_of
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.context import AppContext
from control_tower.events.schemas import BatchResult, IngestResult
from control_tower.ingest import service
from control_tower.ingest.refusals import RefusalLog
from control_tower.ingest.signature import WebhookHeaders, verify_signature
from control_tower.kit.http_body import (
    check_declared_size,
    parse_json,
    read_bounded_body,
    require_json,
)
from control_tower.settings import Settings

api = APIRouter(tags=["events"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": None, "description": text}
    for code, text in {
        400: "Malformed JSON",
        401: "Missing or bad token or signature",
        403: "Role or source not allowed",
        409: "Same event_id with different content",
        413: "Body over the limit",
        415: "Not application/json",
        422: "Envelope or payload invalid",
        429: "Rate limit exceeded",
        503: "The store is unavailable; retry",
    }.items()
}


@dataclass(frozen=True)
class SignedJson:
    """A producer's request body: signature checked, parsed as JSON (with the running app's
    context, so the route needs no second dependency)."""

    principal: Principal
    value: Any
    ctx: AppContext


def signed_json(limit: Callable[[Settings], int]) -> Callable[..., Any]:
    """The dependency that authenticates a producer and only then reads and checks the body.

    One dependency, not a chain (size, then `RequireProducer`, then the body): resolving each
    dependency has a fixed cost that showed on ingest, the hottest route. It declares its role
    the way `require_role` does, so the route × role walk and overrides see it."""

    async def dependency(request: Request) -> SignedJson:
        ctx = context_of(request)
        check_declared_size(request, limit(ctx.settings))
        principal = check_role(await authenticate(request), Role.producer)
        body = await read_bounded_body(request, limit(ctx.settings))
        signature = request.headers.get("x-ct-signature")
        verify_signature(
            body=body,
            signature=signature,
            timestamp=request.headers.get("x-ct-timestamp"),
            principal=principal,
            keys=ctx.signing_keys,
            now=ctx.clock.now(),
            tolerance_seconds=ctx.settings.signature_tolerance_seconds,
            # Standard Webhooks' headers, read only when CT's own signature is absent.
            webhook=None if signature else WebhookHeaders.read(request.headers),
        )
        require_json(request)
        return SignedJson(principal, parse_json(body), ctx)

    dependency.required_role = Role.producer  # type: ignore[attr-defined]
    return dependency


signed_event = signed_json(lambda s: s.max_event_bytes)
signed_batch = signed_json(lambda s: s.max_batch_bytes)
SignedEvent = Annotated[SignedJson, Depends(signed_event)]
SignedBatch = Annotated[SignedJson, Depends(signed_batch)]


def _json_body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _ingest(ctx: AppContext) -> service.Ingest:
    return service.Ingest(
        ctx.catalog, ctx.clock, ctx.committer, ctx.metrics, ctx.settings.max_batch_events,
        refusals=RefusalLog(ctx.engine),
    )  # fmt: skip


@api.post(
    "/events",
    status_code=202,
    response_model=IngestResult,
    summary="Ingest one signed event",
    responses={
        200: {"model": IngestResult, "description": "Duplicate of a stored event"},
        **ERRORS,
    },
    openapi_extra=_json_body("EventIn"),
)
async def post_event(signed: SignedEvent) -> Response:
    answer = await service.ingest_event(_ingest(signed.ctx), signed.principal, signed.value)
    return Response(
        orjson.dumps(answer), status_code=200 if answer["duplicate"] else 202,
        media_type="application/json",
    )  # fmt: skip


@api.post(
    "/events/batch",
    response_model=BatchResult,
    summary="Ingest up to 500 events under one signature; answers per item",
    responses=ERRORS,
    openapi_extra=_json_body("BatchIn"),
)
async def post_event_batch(signed: SignedBatch) -> Response:
    # Answered as built (a BatchResult, documented by response_model): validating up to 500
    # items once more on the way out would cost more than storing them.
    answer = await service.ingest_batch(_ingest(signed.ctx), signed.principal, signed.value)
    return Response(orjson.dumps(answer), media_type="application/json")
