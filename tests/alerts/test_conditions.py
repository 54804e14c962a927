"""The kinds judged from the store: a system red (or amber) for N minutes — heard through the
status-change hook as it is wired by the app — DLQ depth, a failed run, a missed backup."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, column, insert, table

from control_tower.alerts.conditions import last_backup_at
from control_tower.app import build_router
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health.hooks import StatusChangeHook
from control_tower.health.service import record_status_changes
from control_tower.kit.clock import FrozenClock
from control_tower.models import runs
from control_tower.models.base import UTCDateTime
from control_tower.routing import dlq
from tests.alerts.helpers import all_alerts, evaluate, history, kill, only_alert, sent
from tests.helpers import Emit


def ci_failures(emit: Emit, count: int) -> None:
    """CI failures: the ci system (no heartbeat) turns amber at 3 in 24 h and red at 10."""
    for n in range(count):
        payload = {"repo": "swan/backend", "run_id": n, "job": "test", "url": "https://x/1"}
        emit("ci.workflow.failed", "github", payload, late=timedelta(0))


def record(engine: Engine, catalog: Catalog, clock: FrozenClock, hook: StatusChangeHook) -> None:
    """What `health:sweep` does: evaluate every system and publish the changes."""
    with unit_of_work(engine) as conn:
        record_status_changes(conn, catalog, clock.now(), hook=hook)


RED_10: dict[str, Any] = {
    "name": "ci-red",
    "kind": "system_status",
    "status": "red",
    "for_minutes": 10,
    "systems": ["ci"],
    "group_wait": "0s",
    "runbook_url": "https://runbooks.example/ci-red",
}


@pytest.mark.parametrize("rules", [[RED_10]])
def test_a_system_red_for_n_minutes_fires_and_resolves_when_it_recovers(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    hook = StatusChangeHook()
    router, tracker = build_router(engine, catalog, clock, status_changes=hook)
    ci_failures(emit, 10)
    router.drain()
    tracker.after_pass(clock.now())  # ci turns red now: the app's wiring tells alerts
    assert all_alerts(engine) == []  # red, but not yet for 10 minutes

    clock.set(start + timedelta(minutes=9, seconds=59))
    evaluate(engine, catalog, clock)
    assert all_alerts(engine) == []
    clock.set(start + timedelta(minutes=10))
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert (alert.state, alert.labels, alert.value) == ("firing", {"system": "ci"}, 10)
    assert alert.started_at == start + timedelta(minutes=10)
    assert alert.summary == "ci has been red for 10 min"
    assert sent(engine) == ["trigger"]  # group_wait 0: in the same pass

    clock.set(start + timedelta(minutes=30))
    evaluate(engine, catalog, clock)
    assert only_alert(engine).value == 30  # still the one alert, its duration refreshed
    assert sent(engine) == ["trigger"]

    clock.set(start + timedelta(hours=26))  # the errors left the 24 h window: green again
    record(engine, catalog, clock, hook)
    alert = only_alert(engine)
    assert alert.state == "resolved"
    assert alert.resolved_at == clock.now()  # at the change, not at the next evaluation
    assert history(engine, alert.id)[-2].details == {"reason": "ci is green"}
    assert sent(engine) == ["trigger", "resolve"]


AMBER_NOW: dict[str, Any] = {
    "name": "ci-amber",
    "kind": "system_status",
    "status": "amber",
    "for_minutes": 0,
    "group_wait": "0s",
}


@pytest.mark.parametrize("rules", [[AMBER_NOW]])
def test_an_amber_rule_fires_at_the_change_and_red_is_still_the_same_alert(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    hook = StatusChangeHook()
    router, tracker = build_router(engine, catalog, clock, status_changes=hook)
    ci_failures(emit, 3)
    router.drain()
    tracker.after_pass(clock.now())
    alert = only_alert(engine)
    assert (alert.state, alert.labels) == ("firing", {"system": "ci"})
    assert alert.started_at == clock.now()
    assert sent(engine) == ["trigger"]  # paged inside the transaction that recorded the change

    clock.advance(timedelta(minutes=1))
    ci_failures(emit, 7)
    router.drain()
    record(engine, catalog, clock, hook)  # amber → red: amber or worse, the same alert
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "firing"
    assert only_alert(engine).summary == "ci has been red for 1 min"


DLQ_OVER_1: dict[str, Any] = {"name": "dlq", "kind": "dlq_depth", "more_than": 1}


@pytest.mark.parametrize("rules", [[DLQ_OVER_1]])
def test_dlq_depth_over_n_fires_and_resolves_after_a_replay(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    ids = [emit("system.heartbeat", "backend", {"system_id": "backend"}) for _ in range(2)]
    kill(engine, ids[0])
    evaluate(engine, catalog, clock)
    assert all_alerts(engine) == []  # depth 1 is not over 1
    kill(engine, ids[1])
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert (alert.state, alert.value, alert.labels) == ("firing", 2, {})
    assert alert.summary == "2 dead events in the DLQ (more than 1)"
    clock.advance(timedelta(minutes=1))
    with unit_of_work(engine) as conn:
        dlq.replay(conn, [ids[0]], actor="test", now=clock.now())
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"


def add_run(engine: Engine, trigger: str, status: str, ended_at: datetime) -> str:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    with unit_of_work(engine) as conn:
        conn.execute(
            insert(runs).values(
                run_id=run_id, trigger=trigger, initiator="test", inputs={}, redactions=[],
                inputs_sha256="0" * 64, status=status, metrics={}, created_at=ended_at,
                updated_at=ended_at, ended_at=ended_at,
            )
        )  # fmt: skip
    return run_id


RUN_FAILED: dict[str, Any] = {
    "name": "run-failed",
    "kind": "run_failed",
    "triggers": ["portal.notify.retry", "contract.regenerate"],
}


@pytest.mark.parametrize("rules", [[RUN_FAILED]])
def test_a_failed_run_fires_per_trigger_until_a_later_run_succeeds(
    engine: Engine, clock: FrozenClock, catalog: Catalog
) -> None:
    now = clock.now()
    add_run(engine, "contract.regenerate", "success", now - timedelta(minutes=5))
    failed = add_run(engine, "portal.notify.retry", "failed", now - timedelta(minutes=2))
    add_run(engine, "finance.export.backfill", "failed", now)  # not a trigger of the rule
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert alert.labels == {"trigger": "portal.notify.retry", "system": "portal"}
    assert alert.summary == f"run {failed} of portal.notify.retry failed"
    assert alert.started_at == now - timedelta(minutes=2)

    clock.advance(timedelta(minutes=1))
    add_run(engine, "portal.notify.retry", "cancelled", clock.now())  # neither way
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "firing"
    add_run(engine, "portal.notify.retry", "success", clock.now())
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"


BACKUP_26: dict[str, Any] = {"name": "backup", "kind": "backup_missed", "hours": 26}


def add_backup(engine: Engine, status: str, finished_at: datetime) -> None:
    """A row of the backups feature's table, written by name as the rule reads it."""
    backups = table(
        "backup_runs",
        column("name"),
        column("location"),
        column("initiator"),
        column("status"),
        column("started_at", UTCDateTime()),
        column("finished_at", UTCDateTime()),
    )
    with unit_of_work(engine) as conn:
        conn.execute(
            insert(backups).values(
                name="b", location="/tmp/b", initiator="test", status=status,
                started_at=finished_at, finished_at=finished_at,
            )
        )  # fmt: skip


@pytest.mark.parametrize("rules", [[BACKUP_26]])
def test_no_backup_for_n_hours_fires_and_a_new_backup_resolves(
    engine: Engine, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    add_backup(engine, "ok", start - timedelta(hours=25))
    add_backup(engine, "failed", start)  # a failed backup is no backup
    evaluate(engine, catalog, clock)
    assert all_alerts(engine) == []
    clock.set(start + timedelta(hours=1))
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert alert.started_at == start + timedelta(hours=1)
    assert alert.value == 26
    add_backup(engine, "ok", clock.now())
    clock.advance(timedelta(seconds=30))
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"


def test_the_backup_table_is_read_by_name(engine: Engine, clock: FrozenClock) -> None:
    with unit_of_work(engine) as conn:
        assert last_backup_at(conn) is None
    add_backup(engine, "ok", clock.now())
    with unit_of_work(engine) as conn:
        assert last_backup_at(conn) == clock.now()


@pytest.mark.parametrize("rules", [[{"name": "gone", "kind": "dlq_depth", "more_than": 0}]])
def test_alerts_of_a_rule_that_left_the_catalogue_resolve(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    kill(engine, emit("system.heartbeat", "backend", {"system_id": "backend"}))
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "firing"
    without = catalog.model_copy(update={"alert_rules": []})
    evaluate(engine, without, clock)
    assert only_alert(engine).state == "resolved"
