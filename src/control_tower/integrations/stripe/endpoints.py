"""`POST /integrations/stripe`: Stripe's own webhook deliveries, verified and de-duplicated.

No bearer token: Stripe proves itself with `Stripe-Signature` (t=…,v1=…; HMAC-SHA256 with the
endpoint's signing secret, `CT_STRIPE_WEBHOOK_SECRETS`, several while a secret is rolled),
checked in constant time within 300 s of `t`. Requests are limited per client address
(`CT_STRIPE_RATE_LIMIT_PER_MINUTE`) before any of that, and the body is read within
`CT_MAX_BATCH_BYTES`. The meaning lives in service.py.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from control_tower.auth.dependencies import Context, authenticates_by, client_address
from control_tower.auth.rate_limit import Limit
from control_tower.integrations.stripe.service import StripeAdapter, handle_delivery
from control_tower.kit.errors import RateLimited, Unavailable
from control_tower.kit.http_body import parse_json, read_bounded_body

api = APIRouter(tags=["integrations"])


def stripe_secrets(raw: str) -> list[str]:
    return [secret.strip() for secret in raw.split(",") if secret.strip()]


async def signed_stripe_event(request: Request, ctx: Context) -> Any:
    """Stripe's authentication: the address's budget first, then the body within its limit,
    then the signature over it; the parsed event."""
    secrets = stripe_secrets(ctx.settings.stripe_webhook_secrets)
    if not secrets:
        raise Unavailable(
            "the Stripe webhook is not configured (set CT_STRIPE_WEBHOOK_SECRETS)",
            code="webhook_not_configured",
        )
    per_minute = ctx.settings.stripe_rate_limit_per_minute
    decision = await ctx.rate_hit(
        f"stripe:{client_address(request)}", Limit(per_minute, per_minute)
    )
    if not decision.allowed:
        raise RateLimited(
            "too many webhook deliveries from this address", headers=decision.headers()
        )
    body = await read_bounded_body(request, ctx.settings.max_batch_bytes)
    StripeAdapter(secrets).verify(request.headers, body, ctx.clock.now())
    return parse_json(body)


@api.post(
    "/integrations/stripe",
    summary="Stripe webhook (invoice and payment events), signed with Stripe-Signature",
    responses={
        200: {"description": "A re-delivery (`duplicate: true`)"},
        202: {"description": "Stored as finance events, or ignored with a reason"},
        400: {"description": "Not a Stripe event, or malformed JSON"},
        401: {"description": "Missing, bad or stale Stripe-Signature"},
        409: {"description": "The Stripe event id was stored with other content"},
        413: {"description": "Body over the limit"},
        422: {"description": "The event does not fit the catalogue (e.g. its source)"},
        429: {"description": "Too many deliveries from this address"},
        503: {"description": "No webhook secret configured"},
    },
)
@authenticates_by("stripe-signature")
async def stripe_webhook(
    delivery: Annotated[Any, Depends(signed_stripe_event)], ctx: Context
) -> JSONResponse:
    adapter = StripeAdapter(stripe_secrets(ctx.settings.stripe_webhook_secrets))
    answer = await anyio.to_thread.run_sync(
        handle_delivery, ctx.engine, ctx.catalog, adapter, delivery,
        ctx.catalog.identity.stripe.source, ctx.clock.now(),
    )  # fmt: skip
    return JSONResponse(answer.body, status_code=answer.status_code)
