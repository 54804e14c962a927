"""What a GitHub webhook delivery means, and storing it once (router: integrations/github.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import protected_branches
from control_tower.db import conflict_insert, unit_of_work
from control_tower.ingest.internal import emit_events
from control_tower.kit.errors import BadRequest, Unauthorized
from control_tower.kit.signing import signature_matches
from control_tower.models import github_deliveries
from control_tower.pollers.github_actions import workflow_failed_event

PRODUCER = "webhook:github"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    body: Any


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, in constant time."""
    if not header:
        raise Unauthorized("missing X-Hub-Signature-256", code="signature_missing")
    if not signature_matches(secret, body, header):
        raise Unauthorized("X-Hub-Signature-256 does not match the body", code="bad_signature")


def interpret(catalog: Catalog, delivery: Delivery) -> Answer:
    """What a verified delivery means: the answer, and the events to store for it."""
    event, body = delivery.event, delivery.body
    if event == "ping":
        return Answer(200, {"ok": True, "event": "ping"})
    if event != "workflow_run":
        return Answer(202, {"ignored": True, "reason": f"event {event!r} is not handled"})
    if not isinstance(body, dict) or not isinstance(body.get("workflow_run"), dict):
        raise BadRequest("a workflow_run delivery needs a workflow_run object")
    action = body.get("action")
    if action != "completed":
        return Answer(202, {"ignored": True, "reason": f"action {action!r} is not 'completed'"})
    run = body["workflow_run"]
    repo = _full_name(body.get("repository")) or _full_name(run.get("repository"))
    if repo is None:
        raise BadRequest("a workflow_run delivery needs repository.full_name")
    protected = protected_branches(catalog.pollers, repo)
    event_row = workflow_failed_event(run, protected, fallback_repo=repo)
    if event_row is None:
        reason = (
            f"conclusion {run.get('conclusion')!r} on branch {run.get('head_branch')!r} is not "
            f"a failure on a protected branch ({', '.join(sorted(protected))})"
        )
        return Answer(202, {"ignored": True, "reason": reason})
    return Answer(202, {"accepted": True, "event_id": event_row["event_id"]}, [event_row])


def _full_name(repository: Any) -> str | None:
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) else None


def handle_delivery(engine: Engine, catalog: Catalog, delivery: Delivery, now: datetime) -> Answer:
    """Interpret and store a verified delivery; a delivery id seen before is a duplicate."""
    answer = interpret(catalog, delivery)
    outcome = "accepted" if answer.events else ("ping" if delivery.event == "ping" else "ignored")
    with unit_of_work(engine) as conn:
        if not _record_delivery(conn, delivery, outcome, now):
            return Answer(200, {"duplicate": True, "delivery": delivery.delivery_id})
        stored = emit_events(conn, catalog, answer.events, producer=PRODUCER, now=now)
    if answer.events:
        # False when the poller (or another delivery id) already stored this run attempt.
        answer.body["new_event"] = any(o.kind == "accepted" for o in stored)
    answer.body.update(delivery=delivery.delivery_id, duplicate=False)
    return answer


def _record_delivery(conn: Connection, delivery: Delivery, outcome: str, now: datetime) -> bool:
    """Insert the delivery id; False when it was already there (a re-delivery)."""
    result = conn.execute(
        conflict_insert(conn, github_deliveries)
        .values(
            delivery_id=delivery.delivery_id,
            event=delivery.event[:64],
            outcome=outcome,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=[github_deliveries.c.delivery_id])
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT here.
        .returning(github_deliveries.c.delivery_id)
    )
    return result.first() is not None
