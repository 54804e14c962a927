"""`POST /integrations/github`: GitHub's own webhook deliveries, verified and de-duplicated.

No bearer token: GitHub proves itself with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body
with the webhook secret, `CT_GITHUB_WEBHOOK_SECRET`), checked in constant time. Requests are
limited per client address (`CT_GITHUB_RATE_LIMIT_PER_MINUTE`) before any of that. Each delivery
id (`X-GitHub-Delivery`) is stored, so a re-delivery answers `200 {"duplicate": true}`. A
`workflow_run` delivery with action `completed` and a failed conclusion on a protected branch
becomes `ci.workflow.failed` with the same event id the poller uses, so CI can push or be polled
and one run is still one event. The meaning lives in service.py.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from control_tower.auth.dependencies import Context, authenticates_by, client_address
from control_tower.auth.rate_limit import Limit
from control_tower.integrations.github.service import Delivery, handle_delivery, verify_signature
from control_tower.kit.errors import BadRequest, RateLimited, Unavailable
from control_tower.kit.http_body import parse_json, read_bounded_body

api = APIRouter(tags=["integrations"])


async def signed_delivery(request: Request, ctx: Context) -> Delivery:
    """GitHub's authentication: the address's budget first, then the body within its limit,
    then the signature over it (`X-Hub-Signature-256`)."""
    secret = ctx.settings.github_webhook_secret
    if not secret:
        raise Unavailable(
            "the GitHub webhook is not configured (set CT_GITHUB_WEBHOOK_SECRET)",
            code="webhook_not_configured",
        )
    # The webhook has no token, so its budget is per sending address, spent before any work
    # on the body: a flood of forged deliveries is refused cheaply.
    per_minute = ctx.settings.github_rate_limit_per_minute
    decision = await ctx.rate_hit(
        f"github:{client_address(request)}", Limit(per_minute, per_minute)
    )
    if not decision.allowed:
        raise RateLimited(
            "too many webhook deliveries from this address", headers=decision.headers()
        )
    body = await read_bounded_body(request, ctx.settings.max_batch_bytes)
    verify_signature(secret, body, request.headers.get("x-hub-signature-256"))
    delivery_id = request.headers.get("x-github-delivery", "").strip()
    event = request.headers.get("x-github-event", "").strip()
    if not delivery_id or len(delivery_id) > 128:
        raise BadRequest("missing or overlong X-GitHub-Delivery header")
    if not event:
        raise BadRequest("missing X-GitHub-Event header")
    return Delivery(delivery_id, event, parse_json(body))


@api.post(
    "/integrations/github",
    summary="GitHub webhook (workflow_run), signed with X-Hub-Signature-256",
    responses={
        200: {"description": "ping, or a re-delivery (`duplicate: true`)"},
        202: {"description": "Accepted: stored as ci.workflow.failed, or ignored with a reason"},
        400: {"description": "Missing X-GitHub-Delivery / X-GitHub-Event or malformed JSON"},
        401: {"description": "Missing or bad X-Hub-Signature-256"},
        413: {"description": "Body over the limit"},
        429: {"description": "Too many deliveries from this address"},
        503: {"description": "No webhook secret configured"},
    },
)
@authenticates_by("github-signature")
async def github_webhook(
    delivery: Annotated[Delivery, Depends(signed_delivery)], ctx: Context
) -> JSONResponse:
    answer = await anyio.to_thread.run_sync(
        handle_delivery, ctx.engine, ctx.catalog, delivery, ctx.clock.now()
    )
    return JSONResponse(answer.body, status_code=answer.status_code)
