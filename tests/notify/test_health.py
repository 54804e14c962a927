"""A channel that keeps failing turns CT's own system amber, naming the channel; green again
once it delivers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import service
from control_tower.health.objectives import EXTRA_OBJECTIVES
from control_tower.health.schemas import HealthStatus
from control_tower.kit.clock import FrozenClock
from control_tower.notify.tasks import register_delivery_objective
from control_tower.routing.router import Router
from tests.helpers import Emit, Staff
from tests.notify.helpers import FAST_RETRY, alert_message, catalog_with, queue, worker
from tests.notify.receivers import Answer, HttpReceiver

SLACK = {"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL", "retry": FAST_RETRY}


@pytest.fixture(autouse=True)
def _delivery_objective() -> None:
    """As `ct serve` and `ct worker` register it (background.register_health_objectives)."""
    register_delivery_objective(EXTRA_OBJECTIVES)


def ct_status(engine: Engine, catalog: Catalog, clock: FrozenClock) -> tuple[str, list[str]]:
    with unit_of_work(engine, write=False) as conn:
        detail = service.system_detail(conn, catalog, "ct", clock.now())
    return detail.status.value, [r.message for r in detail.reasons if r.status.value == "amber"]


def test_three_failed_attempts_turn_ct_amber_and_a_delivery_turns_it_green(
    engine: Engine,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    receiver: HttpReceiver,
) -> None:
    catalog = catalog_with(SLACK)
    emit("system.heartbeat", "ct", {"system_id": "ct"}, late=timedelta(0))
    router.drain()
    assert ct_status(engine, catalog, clock) == ("green", [])
    for n in range(3):
        queue(engine, catalog, "ops-slack", alert_message(), now=clock.now(), key=f"k{n}")
    receiver.default = Answer(500, "boom")
    w = worker(engine, catalog, clock, {"SLACK_URL": receiver.url})
    assert [s.action for s in w.deliver_until_idle()] == ["retrying"] * 3
    status, amber = ct_status(engine, catalog, clock)
    assert status == "amber"
    assert amber == [
        "channel 'ops-slack' is failing: its last 3 delivery attempts failed (last: HTTP 500: boom)"
    ]
    with unit_of_work(engine) as conn:
        [change] = service.record_status_changes(conn, catalog, clock.now())
    assert (change.system_id, change.to_status) == ("ct", HealthStatus.amber)

    receiver.default = Answer(200, "ok")
    clock.advance(timedelta(seconds=60))
    assert {s.action for s in w.deliver_until_idle()} == {"sent"}
    assert ct_status(engine, catalog, clock) == ("green", [])
    with unit_of_work(engine) as conn:
        [change] = service.record_status_changes(conn, catalog, clock.now())
    assert (change.from_status, change.to_status) == (HealthStatus.amber, HealthStatus.green)


def test_a_dead_notification_keeps_ct_amber_for_an_hour_unless_the_channel_delivers(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.answer(Answer(400, "invalid_payload"))
    w = worker(engine, catalog, clock, {"SLACK_URL": receiver.url})
    assert [s.action for s in w.deliver_until_idle()] == ["dead"]
    # No signal from ct yet: unknown would be its status, but the failing channel shows.
    status, amber = ct_status(engine, catalog, clock)
    assert status == "amber"
    assert amber[0].startswith("channel 'ops-slack' is failing: a notification went dead at")
    clock.advance(timedelta(minutes=61))
    assert ct_status(engine, catalog, clock) == ("unknown", [])
    clock.advance(timedelta(minutes=-31))
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now(), key="k-2")
    assert [s.action for s in w.deliver_until_idle()] == ["sent"]
    assert ct_status(engine, catalog, clock)[0] == "unknown"


def test_other_systems_are_not_touched(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.answer(Answer(400, "no"))
    worker(engine, catalog, clock, {"SLACK_URL": receiver.url}).deliver_until_idle()
    with unit_of_work(engine, write=False) as conn:
        backend = service.system_detail(conn, catalog, "backend", clock.now())
    assert backend.status is HealthStatus.unknown
    assert [r.objective for r in backend.reasons] == ["signal"]


def test_the_api_shows_the_failing_channel_on_ct(
    engine: Engine, clock: FrozenClock, client: TestClient, staff: Staff, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    for n in range(3):
        queue(engine, catalog, "ops-slack", alert_message(), now=clock.now(), key=f"k{n}")
    receiver.default = Answer(503, "")
    worker(engine, catalog, clock, {"SLACK_URL": receiver.url}).deliver_until_idle()
    answer = client.get("/systems/ct", headers=staff.headers(Role.viewer))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "amber"
    [reason] = [r for r in body["reasons"] if r["objective"] == "notification_delivery"]
    assert reason["measured"]["channel"] == "ops-slack"
    assert reason["measured"]["recent_outcomes"] == ["retry", "retry", "retry"]
