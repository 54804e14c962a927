"""Status changes: each is a run_transitions row, an audit entry and (for start and end) an event,
all in the caller's transaction.

queued → running → success | failed | cancelled; queued → cancelled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from control_tower.audit import chain
from control_tower.catalog import Catalog
from control_tower.ingest.internal import emit_events
from control_tower.runs import repository
from control_tower.runs.schemas import FINISHED, RunStatus

ALLOWED = {
    None: {RunStatus.queued},
    RunStatus.queued: {RunStatus.running, RunStatus.cancelled, RunStatus.failed},
    RunStatus.running: {RunStatus.success, RunStatus.failed, RunStatus.cancelled},
}


class StaleRun(Exception):
    """The run changed under us (another worker or a cancel won); nothing was written."""


def record_transition(
    conn: Connection,
    catalog: Catalog,
    *,
    run_id: str,
    trigger: str,
    from_status: RunStatus | None,
    to_status: RunStatus,
    at: datetime,
    actor: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    expect: dict[str, Any] | None = None,
    audit_action: str | None = None,
) -> None:
    """Move a run to `to_status` (the runs row, unless it is being created), append the
    transition, the audit entry and the run event."""
    if to_status not in ALLOWED.get(from_status, set()):
        raise ValueError(f"no transition {from_status} → {to_status}")
    if from_status is not None:
        row_values = {"status": to_status.value, "updated_at": at, **(values or {})}
        if to_status in FINISHED:
            row_values.update(ended_at=at, lease_owner=None, lease_expires_at=None)
        fence = {"status": from_status.value, **(expect or {})}
        if not repository.update_run(conn, run_id, row_values, fence):
            raise StaleRun(run_id)
    extra = details or {}
    repository.insert_transition(
        conn,
        {
            "run_id": run_id,
            "from_status": from_status.value if from_status else None,
            "to_status": to_status.value,
            "at": at,
            "actor": actor,
            "reason": reason[:500],
            "details": extra,
        },
    )
    chain.append(
        conn,
        at=at,
        actor=actor,
        action=audit_action or f"run.{to_status.value}",
        target=f"run:{run_id}",
        details={
            "trigger": trigger,
            "from": from_status.value if from_status else None,
            "to": to_status.value,
            "reason": reason,
            **extra,
        },
    )
    _emit_run_event(conn, catalog, run_id, trigger, to_status, at)


def _emit_run_event(
    conn: Connection, catalog: Catalog, run_id: str, trigger: str, status: RunStatus, at: datetime
) -> None:
    if status is RunStatus.running:
        kind = "started"
    elif status in FINISHED:
        kind = "completed"
    else:
        return
    event_type = f"ct.run.{kind}"
    if catalog.event_type(event_type) is None:
        return  # a catalogue without CT's own event types gets no run events
    emit_events(
        conn,
        catalog,
        [
            {
                # Deterministic ids: a transition replayed after a crash is a duplicate, not a
                # second event.
                "event_id": f"{run_id}.{kind}",
                "type": event_type,
                "occurred_at": at.isoformat(),
                "source": "ct",
                "correlation_id": run_id,
                "payload": {"run_id": run_id, "trigger": trigger, "status": status.value},
            }
        ],
        producer="ct",
        now=at,
    )
