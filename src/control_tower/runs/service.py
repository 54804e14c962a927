"""Run use cases shared by the API and the CLI: trigger, dry run, cancel, note, list, show."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jsonschema import FormatChecker
from sqlalchemy import Connection, Row

from control_tower.audit import chain
from control_tower.auth.roles import Role, has_role
from control_tower.catalog import Catalog
from control_tower.catalog.triggers import Trigger
from control_tower.catalog.types import StrictValidator
from control_tower.events.redaction import redact
from control_tower.events.service import event_from_row
from control_tower.kit.canonical import content_hash
from control_tower.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from control_tower.kit.pagination import seq_page
from control_tower.runs import repository
from control_tower.runs.guards import check_guards
from control_tower.runs.lifecycle import record_transition
from control_tower.runs.schemas import (
    FINISHED,
    CancelResult,
    DryRunResult,
    Note,
    PlannedRequest,
    RunDetail,
    RunPage,
    RunStatus,
    RunSummary,
    Transition,
    TriggerAccepted,
)
from control_tower.runs.target import build_request


@dataclass(frozen=True)
class Caller:
    """Who asks: a token (API) or the local CLI. `name` becomes the run's initiator."""

    name: str
    role: Role


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex}"


def find_trigger(catalog: Catalog, name: str, caller: Caller) -> Trigger:
    trigger = catalog.trigger(name)
    if trigger is None:
        raise NotFound(f"no trigger {name!r} in the catalogue", code="unknown_trigger")
    if not has_role(caller.role, trigger.required_role):
        raise Forbidden(
            f"trigger {name!r} needs the {trigger.required_role.value} role; "
            f"{caller.name!r} is {caller.role.value}",
            code="insufficient_role",
        )
    return trigger


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def normalise_inputs(trigger: Trigger, raw: dict[str, Any]) -> dict[str, Any]:
    """camelCase keys (`contractId`, as in the work order) become snake_case, then the inputs
    are checked against the trigger's schema; every problem names its field."""
    inputs: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for key, value in raw.items():
        name = _snake(str(key))
        if name in inputs:
            problems.append({"field": f"inputs.{name}", "message": "given twice"})
        inputs[name] = value
    validator = StrictValidator(trigger.input_schema, format_checker=FormatChecker())
    for err in sorted(validator.iter_errors(inputs), key=str):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = [p for p in err.validator_value if p not in (err.instance or {})]
            path += missing[:1]
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            extra = sorted(k for k in err.instance if k not in allowed)
            path += extra[:1]
        problems.append({"field": ".".join(["inputs", *path]), "message": err.message})
    if problems:
        fields = ", ".join(p["field"] for p in problems)
        raise Unprocessable(f"invalid inputs for {trigger.name!r}: {fields}", details=problems)
    return inputs


def dry_run(
    conn: Connection,
    catalog: Catalog,
    name: str,
    raw_inputs: dict[str, Any],
    *,
    caller: Caller,
    now: datetime,
    base_url: str | None,
) -> DryRunResult:
    """Check inputs and guards and show the call that would be made; writes nothing."""
    trigger = find_trigger(catalog, name, caller)
    inputs = normalise_inputs(trigger, raw_inputs)
    checked, refusal = check_guards(conn, trigger, now)
    if refusal is not None:
        raise refusal.error(trigger.name)
    stored, _masked = redact(inputs)
    planned = build_request(trigger, "<run_id>", stored, 1, base_url)
    return DryRunResult(
        trigger=trigger.name,
        inputs=stored,
        guards=checked,
        request=PlannedRequest(
            method=planned.method,
            url=planned.url,
            headers=planned.headers,
            body=planned.json_body(),
        ),
    )


def start_run(
    conn: Connection,
    catalog: Catalog,
    name: str,
    raw_inputs: dict[str, Any],
    *,
    caller: Caller,
    now: datetime,
    idempotency_key: str | None = None,
) -> TriggerAccepted:
    """Queue a run, or return the run an earlier identical request created."""
    trigger = find_trigger(catalog, name, caller)
    inputs = normalise_inputs(trigger, raw_inputs)
    digest = content_hash(inputs)
    repository.lock_creation(conn, trigger.name, idempotency_key)
    existing = _existing_run(conn, trigger, digest, idempotency_key, now)
    if existing is not None:
        return TriggerAccepted(run_id=existing.run_id, status=existing.status, duplicate=True)
    _checked, refusal = check_guards(conn, trigger, now)
    if refusal is not None:
        raise refusal.error(trigger.name)
    stored, masked = redact(inputs)
    run_id = new_run_id()
    repository.insert_run(
        conn,
        {
            "run_id": run_id,
            "trigger": trigger.name,
            "initiator": caller.name,
            "inputs": stored,
            "redactions": masked,
            "inputs_sha256": digest,
            "idempotency_key": idempotency_key,
            "status": RunStatus.queued.value,
            "attempts": 0,
            "metrics": {"attempts": 0, "attempt_log": []},
            "next_attempt_at": now,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    record_transition(
        conn,
        catalog,
        run_id=run_id,
        trigger=trigger.name,
        from_status=None,
        to_status=RunStatus.queued,
        at=now,
        actor=caller.name,
        reason="triggered",
        details={"inputs": stored, "idempotency_key": idempotency_key},
        audit_action="run.triggered",
    )
    return TriggerAccepted(run_id=run_id, status=RunStatus.queued)


def _existing_run(
    conn: Connection, trigger: Trigger, digest: str, key: str | None, now: datetime
) -> Row[Any] | None:
    if key is not None:
        row = repository.find_by_idempotency_key(conn, key)
        if row is not None and (row.trigger != trigger.name or row.inputs_sha256 != digest):
            raise Conflict(
                "this Idempotency-Key was already used for a different trigger or inputs",
                code="idempotency_key_conflict",
                details={"run_id": row.run_id, "trigger": row.trigger},
            )
        return row
    if trigger.dedupe_window_seconds <= 0:
        return None
    since = now - timedelta(seconds=trigger.dedupe_window_seconds)
    return repository.find_recent_duplicate(conn, trigger.name, digest, since)


def cancel_run(
    conn: Connection, catalog: Catalog, run_id: str, *, actor: str, now: datetime
) -> CancelResult:
    """Queued runs, and running ones between attempts, are cancelled at once. A run whose
    worker holds the lease (mid-call) is marked; the worker cancels it before its next
    attempt or when the call returns (docs/triggers.md)."""
    row = repository.get_run(conn, run_id, for_update=True)
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    status = RunStatus(row.status)
    if status in FINISHED:
        raise Conflict(
            f"run {run_id!r} already finished ({status.value})",
            code="run_finished",
            details={"status": status.value},
        )
    lease_held = row.lease_expires_at is not None and row.lease_expires_at > now
    if status is RunStatus.running and lease_held:
        repository.update_run(
            conn, run_id, {"cancel_requested": True, "updated_at": now}, {"status": status.value}
        )
        chain.append(
            conn,
            at=now,
            actor=actor,
            action="run.cancel_requested",
            target=f"run:{run_id}",
            details={"trigger": row.trigger, "lease_owner": row.lease_owner},
        )
        return CancelResult(run_id=run_id, status=status, cancel_requested=True)
    record_transition(
        conn,
        catalog,
        run_id=run_id,
        trigger=row.trigger,
        from_status=status,
        to_status=RunStatus.cancelled,
        at=now,
        actor=actor,
        reason="cancelled by request",
        values={"cancel_requested": True, "next_attempt_at": None},
    )
    return CancelResult(run_id=run_id, status=RunStatus.cancelled, cancel_requested=True)


def add_note(conn: Connection, run_id: str, text: str, *, author: str, now: datetime) -> Note:
    if repository.get_run(conn, run_id) is None:
        raise NotFound(f"no run {run_id!r}")
    cleaned, masked = redact({"text": text})
    stored = str(cleaned["text"])
    repository.insert_note(
        conn, {"run_id": run_id, "at": now, "author": author, "text": stored, "redactions": masked}
    )
    chain.append(
        conn,
        at=now,
        actor=author,
        action="run.note_added",
        target=f"run:{run_id}",
        details={"text": stored},
    )
    return Note(at=now, author=author, text=stored)


def log_references(run_id: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Where a run's attempts are in CT's JSON log: one reference per attempt, naming the line
    the worker wrote for it by its `event` (`run_attempt`, or `run_lease_taken_over` for an
    attempt whose worker lost its lease) and `run_id`, with the attempt's outcome."""
    return [
        {
            "event": "run_lease_taken_over" if attempt["outcome"] == "lost" else "run_attempt",
            "run_id": run_id,
            "attempt": attempt["attempt"],
            "at": attempt["at"],
            "outcome": attempt["outcome"],
            "status_code": attempt["status_code"],
        }
        for attempt in metrics.get("attempt_log", [])
    ]


def summary_from_row(row: Row[Any]) -> RunSummary:
    return RunSummary(
        run_id=row.run_id,
        trigger=row.trigger,
        initiator=row.initiator,
        inputs=row.inputs,
        status=RunStatus(row.status),
        metrics=row.metrics,
        logs=log_references(row.run_id, row.metrics),
        created_at=row.created_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        attempts=row.attempts,
        cancel_requested=bool(row.cancel_requested),
        next_attempt_at=row.next_attempt_at if row.status in repository.ACTIVE else None,
        redactions=row.redactions,
    )


def list_runs(
    conn: Connection, flt: repository.RunFilter, limit: int, cursor: str | None
) -> RunPage:
    page, next_cursor = seq_page(
        lambda n, before: repository.list_runs(conn, flt, n, before), limit, cursor
    )
    return RunPage(items=[summary_from_row(r) for r in page], next_cursor=next_cursor)


def get_run(conn: Connection, run_id: str) -> RunDetail:
    row = repository.get_run(conn, run_id)
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    summary = summary_from_row(row)
    return RunDetail(
        **summary.model_dump(),
        transitions=[
            Transition(
                from_status=RunStatus(t.from_status) if t.from_status else None,
                to_status=RunStatus(t.to_status),
                at=t.at,
                actor=t.actor,
                reason=t.reason,
                details=t.details,
            )
            for t in repository.transitions_of(conn, run_id)
        ],
        notes=[
            Note(at=n.at, author=n.author, text=n.text) for n in repository.notes_of(conn, run_id)
        ],
        events=[event_from_row(e) for e in repository.correlated_events(conn, run_id)],
    )
