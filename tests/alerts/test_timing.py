"""Notification timing, as Alertmanager users expect it, on the controllable clock: group_wait
before the first page, reminders after repeat_interval, changes (a resolve, a re-firing) no
sooner than group_interval after the last notification, nothing for a change of value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.routing import dlq
from tests.alerts.helpers import all_alerts, evaluate, kill, notify, only_alert, sent
from tests.helpers import Emit

DLQ_RULE: dict[str, Any] = {
    "name": "dlq",
    "kind": "dlq_depth",
    "more_than": 0,
    "severity": "warning",
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}


@pytest.fixture
def rules() -> list[dict[str, Any]]:
    return [DLQ_RULE]


def dead_event(emit: Emit, engine: Engine) -> str:
    event_id = emit("system.heartbeat", "backend", {"system_id": "backend"})
    kill(engine, event_id)
    return event_id


def replay_all(engine: Engine, clock: FrozenClock) -> None:
    with unit_of_work(engine) as conn:
        dlq.replay(conn, dlq.dead_ids(conn, None), actor="test", now=clock.now())


def test_first_page_after_group_wait_then_reminders_after_repeat_interval(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert (alert.state, alert.value, alert.started_at) == ("firing", 1, start)
    assert alert.next_notify_at == start + timedelta(seconds=30)
    assert sent(engine) == []

    clock.set(start + timedelta(seconds=29))
    assert notify(engine, catalog, clock) == 0
    clock.set(start + timedelta(seconds=30))
    assert notify(engine, catalog, clock) == 1
    assert sent(engine) == ["trigger"]

    for minutes in (1, 2, 3):  # the depth grows: a change of value pages nobody
        clock.set(start + timedelta(minutes=minutes))
        dead_event(emit, engine)
        evaluate(engine, catalog, clock)
        notify(engine, catalog, clock)
    assert only_alert(engine).value == 4
    assert only_alert(engine).summary == "4 dead events in the DLQ (more than 0)"
    assert sent(engine) == ["trigger"]

    clock.set(start + timedelta(hours=4, seconds=29))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]
    clock.set(start + timedelta(hours=4, seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger", "trigger"]  # the reminder
    assert only_alert(engine).notify_count == 2


def test_resolve_waits_group_interval_after_the_last_notification(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)
    clock.set(start + timedelta(seconds=30))
    notify(engine, catalog, clock)
    clock.set(start + timedelta(minutes=1))
    replay_all(engine, clock)
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert alert.state == "resolved"
    assert alert.next_notify_at == start + timedelta(minutes=5, seconds=30)
    clock.set(start + timedelta(minutes=5, seconds=29))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]
    clock.set(start + timedelta(minutes=5, seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger", "resolve"]
    clock.advance(timedelta(hours=5))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger", "resolve"]  # and nothing more, ever


def test_an_alert_resolved_before_group_wait_pages_nobody(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)
    clock.advance(timedelta(seconds=10))
    replay_all(engine, clock)
    evaluate(engine, catalog, clock)
    clock.advance(timedelta(hours=1))
    notify(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"
    assert sent(engine) == []


def test_a_flapping_condition_pages_again_no_sooner_than_group_interval(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)
    clock.set(start + timedelta(seconds=30))
    notify(engine, catalog, clock)  # paged at +30 s
    clock.set(start + timedelta(minutes=1))
    replay_all(engine, clock)
    evaluate(engine, catalog, clock)  # resolved at +1 min; its resolve is due at +5 min 30 s
    clock.set(start + timedelta(minutes=2))
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)  # fires again at +2 min
    first, second = all_alerts(engine)
    assert second.state == "firing"
    assert second.next_notify_at == start + timedelta(minutes=5, seconds=30)
    clock.set(start + timedelta(minutes=5, seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine, first.id) == ["trigger", "resolve"]
    assert sent(engine, second.id) == ["trigger"]


@pytest.mark.parametrize("rules", [[{**DLQ_RULE, "send_resolved": False, "group_wait": "0s"}]])
def test_group_wait_zero_pages_at_once_and_send_resolved_false_keeps_quiet(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    dead_event(emit, engine)
    evaluate(engine, catalog, clock)
    assert sent(engine) == ["trigger"]  # in the same pass
    clock.advance(timedelta(minutes=1))
    replay_all(engine, clock)
    evaluate(engine, catalog, clock)
    clock.advance(timedelta(hours=1))
    notify(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"
    assert sent(engine) == ["trigger"]


def test_evaluating_twice_changes_nothing_the_second_time(
    engine: Engine, emit: Emit, clock: FrozenClock, catalog: Catalog
) -> None:
    dead_event(emit, engine)
    for _ in range(2):
        evaluate(engine, catalog, clock)
        clock.advance(timedelta(seconds=30))
        notify(engine, catalog, clock)
        notify(engine, catalog, clock)
    assert len(all_alerts(engine)) == 1
    assert sent(engine) == ["trigger"]
