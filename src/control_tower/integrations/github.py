"""`POST /integrations/github`: GitHub's own webhook deliveries, verified and de-duplicated.

No bearer token: GitHub proves itself with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body
with the webhook secret, `CT_GITHUB_WEBHOOK_SECRET`), checked in constant time. Requests are
limited per client address (`CT_GITHUB_RATE_LIMIT_PER_MINUTE`) before any of that. Each delivery
id (`X-GitHub-Delivery`) is stored, so a re-delivery answers `200 {"duplicate": true}`. A
`workflow_run` delivery with action `completed` and a failed conclusion on a protected branch
becomes `ci.workflow.failed` with the same event id the poller uses, so CI can push or be polled
and one run is still one event. The meaning lives in github_service.py.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from control_tower.auth.dependencies import Context, client_address
from control_tower.auth.rate_limit import Limit
from control_tower.events.ingest import parse_json, read_bounded_body
from control_tower.integrations.github_service import Delivery, handle_delivery, verify_signature
from control_tower.kit.errors import BadRequest, RateLimited, Unavailable

router = APIRouter(tags=["integrations"])


@router.post(
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
async def github_webhook(request: Request, ctx: Context) -> JSONResponse:
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
    delivery = Delivery(delivery_id, event, parse_json(body))
    answer = await anyio.to_thread.run_sync(
        handle_delivery, ctx.engine, ctx.catalog, delivery, ctx.clock.now()
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


# The route-by-role test exempts endpoints that authenticate another way than a bearer token.
github_webhook.public_auth = "github-signature"  # type: ignore[attr-defined]
