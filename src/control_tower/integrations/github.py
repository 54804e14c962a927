"""`POST /integrations/github`: GitHub's own webhook deliveries, verified and de-duplicated.

No bearer token: GitHub proves itself with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body
with the webhook secret, `CT_GITHUB_WEBHOOK_SECRET`), checked in constant time. Each delivery
id (`X-GitHub-Delivery`) is stored, so a re-delivery answers `200 {"duplicate": true}`. A
`workflow_run` delivery with action `completed` and a failed conclusion on a protected branch
becomes `ci.workflow.failed` with the same event id the poller uses, so CI can push or be polled
and one run is still one event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from control_tower.auth.dependencies import Context
from control_tower.catalog.pollers import protected_branches
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.events.ingest import parse_json, read_bounded_body
from control_tower.events.internal import emit_events
from control_tower.kit.errors import BadRequest, Unauthorized, Unavailable
from control_tower.kit.signing import signature_matches
from control_tower.models import github_deliveries
from control_tower.pollers.github_actions import workflow_failed_event

router = APIRouter(tags=["integrations"])

PRODUCER = "webhook:github"


def _decide(ctx: AppContext, event: str, body: Any) -> tuple[int, dict[str, Any], list[Any]]:
    """What a verified delivery means: (status, answer, events to store)."""
    if event == "ping":
        return 200, {"ok": True, "event": "ping"}, []
    if event != "workflow_run":
        return 202, {"ignored": True, "reason": f"event {event!r} is not handled"}, []
    if not isinstance(body, dict) or not isinstance(body.get("workflow_run"), dict):
        raise BadRequest("a workflow_run delivery needs a workflow_run object")
    action = body.get("action")
    if action != "completed":
        return 202, {"ignored": True, "reason": f"action {action!r} is not 'completed'"}, []
    run = body["workflow_run"]
    repo_obj = body.get("repository") if isinstance(body.get("repository"), dict) else None
    repo = (repo_obj or {}).get("full_name") or (run.get("repository") or {}).get("full_name")
    if not isinstance(repo, str):
        raise BadRequest("a workflow_run delivery needs repository.full_name")
    protected = protected_branches(ctx.catalog.pollers, repo)
    event_row = workflow_failed_event(run, protected, fallback_repo=repo)
    if event_row is None:
        reason = (
            f"conclusion {run.get('conclusion')!r} on branch {run.get('head_branch')!r} is not "
            f"a failure on a protected branch ({', '.join(sorted(protected))})"
        )
        return 202, {"ignored": True, "reason": reason}, []
    return 202, {"accepted": True, "event_id": event_row["event_id"]}, [event_row]


def _record_delivery(
    conn: Connection, delivery: str, event: str, outcome: str, now: datetime
) -> bool:
    """Insert the delivery id; False when it was already there (a re-delivery)."""
    # The two dialects spell ON CONFLICT DO NOTHING through different insert() constructs.
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = conn.execute(
        insert(github_deliveries)
        .values(delivery_id=delivery, event=event[:64], outcome=outcome, received_at=now)
        .on_conflict_do_nothing(index_elements=[github_deliveries.c.delivery_id])
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT here.
        .returning(github_deliveries.c.delivery_id)
    )
    return result.first() is not None


def _store(
    ctx: AppContext, delivery: str, event: str, outcome: str, rows: list[Any]
) -> tuple[bool, bool]:
    """(first delivery?, event newly stored?) — both in one transaction."""
    with unit_of_work(ctx.engine) as conn:
        now = ctx.clock.now()
        if not _record_delivery(conn, delivery, event, outcome, now):
            return False, False
        stored = emit_events(conn, ctx.catalog, rows, producer=PRODUCER, now=now)
    return True, any(o.kind == "accepted" for o in stored)


@router.post(
    "/integrations/github",
    summary="GitHub webhook (workflow_run), signed with X-Hub-Signature-256",
    responses={
        200: {"description": "ping, or a re-delivery (`duplicate: true`)"},
        202: {"description": "Accepted: stored as ci.workflow.failed, or ignored with a reason"},
        400: {"description": "Missing X-GitHub-Delivery / X-GitHub-Event or malformed JSON"},
        401: {"description": "Missing or bad X-Hub-Signature-256"},
        413: {"description": "Body over the limit"},
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
    body = await read_bounded_body(request, ctx.settings.max_batch_bytes)
    signature = request.headers.get("x-hub-signature-256")
    if not signature:
        raise Unauthorized("missing X-Hub-Signature-256", code="signature_missing")
    if not signature_matches(secret, body, signature):
        raise Unauthorized("X-Hub-Signature-256 does not match the body", code="bad_signature")
    delivery = request.headers.get("x-github-delivery", "").strip()
    event = request.headers.get("x-github-event", "").strip()
    if not delivery or len(delivery) > 128:
        raise BadRequest("missing or overlong X-GitHub-Delivery header")
    if not event:
        raise BadRequest("missing X-GitHub-Event header")
    status, answer, rows = _decide(ctx, event, parse_json(body))
    outcome = "accepted" if rows else ("ping" if event == "ping" else "ignored")
    first, new_event = await anyio.to_thread.run_sync(_store, ctx, delivery, event, outcome, rows)
    if not first:
        return JSONResponse({"duplicate": True, "delivery": delivery}, status_code=200)
    if rows:
        # False when the poller (or another delivery id) already stored this run attempt.
        answer["new_event"] = new_event
    return JSONResponse({**answer, "delivery": delivery, "duplicate": False}, status_code=status)


# The route-by-role test exempts endpoints that authenticate another way than a bearer token.
github_webhook.public_auth = "github-signature"  # type: ignore[attr-defined]
