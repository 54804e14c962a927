"""event_rate rules fire inside routing: the default rule (backend.fn.error with severity high
or critical, more than 3 in 10 minutes) fires on the fourth such event, once however many
follow, and resolves when the window is quiet."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from control_tower.alerts.rate import apply_rates, plan_rates
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import alert_rate_buckets
from control_tower.routing.router import Router
from tests.alerts.helpers import (
    all_alerts,
    evaluate,
    fn_error,
    history,
    notify,
    only_alert,
    sent,
)
from tests.helpers import Emit


def test_the_default_rule_fires_on_the_fourth_high_error_not_the_third_nor_on_lows(
    engine: Engine, emit: Emit, router: Router
) -> None:
    for severity in ("high", "critical", "high"):
        fn_error(emit, severity)
    for severity in ("low", "medium", "low", "medium", "low"):
        fn_error(emit, severity)
    router.drain()
    assert all_alerts(engine) == []  # three qualifying events, five that do not qualify

    fn_error(emit, "critical")
    router.route_once()  # the pass that routes the fourth fires the alert
    alert = only_alert(engine)
    assert alert.rule == "backend-fn-errors"
    assert alert.state == "firing"
    assert alert.labels == {"system": "backend"}
    assert alert.value == 4
    assert alert.severity == "critical"
    assert alert.summary == "4 high/critical function errors on backend in 10 min"
    assert [e.kind for e in history(engine, alert.id)] == ["fired"]


def test_events_further_apart_than_the_window_do_not_fire(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    for _ in range(3):
        fn_error(emit)
    clock.advance(timedelta(minutes=10, seconds=1))
    fn_error(emit)
    router.drain()
    assert all_alerts(engine) == []  # the first three left the window
    clock.advance(timedelta(minutes=9))
    fn_error(emit)
    fn_error(emit)
    router.drain()
    assert all_alerts(engine) == []  # three within 10 minutes
    clock.advance(timedelta(seconds=59))
    fn_error(emit)  # the fourth within 10 minutes of the second burst's first
    router.drain()
    assert only_alert(engine).value == 4


def test_forty_errors_in_ten_minutes_make_one_alert_and_one_page(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock, catalog: Catalog
) -> None:
    for n in range(40):  # one every 15 s, each routed in a pass of its own
        clock.advance(timedelta(seconds=15 if n else 0))
        fn_error(emit, "critical")
        router.route_once()
        notify(engine, catalog, clock)
    assert only_alert(engine).value == 40
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert alert.state == "firing"
    assert sent(engine) == ["trigger"]
    assert alert.notify_count == 1


def test_it_resolves_when_the_window_is_quiet_and_says_so_after_group_interval(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock, catalog: Catalog
) -> None:
    start = clock.now()
    for _ in range(4):
        fn_error(emit)
    router.drain()
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]
    clock.set(start + timedelta(minutes=9, seconds=59))
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "firing"
    clock.set(start + timedelta(minutes=10))
    evaluate(engine, catalog, clock)
    alert = only_alert(engine)
    assert alert.state == "resolved"
    assert alert.resolved_at == start + timedelta(minutes=10)
    # The resolve goes no sooner than group_interval (5 min) after the page: it is due now.
    assert sent(engine) == ["trigger", "resolve"]
    with engine.connect() as conn:  # and the counts left with the window
        assert conn.execute(select(func.count()).select_from(alert_rate_buckets)).scalar() == 0


def test_a_fresh_burst_after_resolving_is_a_new_alert(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock, catalog: Catalog
) -> None:
    for _ in range(4):
        fn_error(emit)
    router.drain()
    clock.advance(timedelta(minutes=11))
    evaluate(engine, catalog, clock)
    for _ in range(4):
        fn_error(emit)
    router.drain()
    first, second = all_alerts(engine)
    assert (first.state, second.state) == ("resolved", "firing")
    assert first.fingerprint == second.fingerprint


def test_late_and_future_timestamps(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    payload = {"fn_name": "f", "severity": "high"}
    for _ in range(4):  # a backfill of old errors is not a burst
        emit("backend.fn.error", "backend", payload, late=timedelta(minutes=11))
    router.drain()
    assert all_alerts(engine) == []
    future = clock.now() + timedelta(hours=2)
    for _ in range(4):  # a producer clock ahead cannot push events out of the window
        emit("backend.fn.error", "backend", payload, occurred_at=future)
    router.drain()
    assert only_alert(engine).started_at == clock.now()


def test_a_burst_over_within_one_batch_is_recorded_resolved_and_pages_nobody(
    engine: Engine, emit: Emit, router: Router, clock: FrozenClock, catalog: Catalog
) -> None:
    for _ in range(4):
        fn_error(emit)
    clock.advance(timedelta(minutes=11))
    fn_error(emit)
    router.drain()  # a router catching up routes the old burst and the new event at once
    alert = only_alert(engine)
    assert alert.state == "resolved"
    clock.advance(timedelta(minutes=10))
    evaluate(engine, catalog, clock)
    assert sent(engine) == []


FN_RULE: dict[str, Any] = {
    "name": "fn-errors",
    "kind": "event_rate",
    "event_type": "backend.fn.error",
    "match": {"severity": "critical"},  # one value reads as a list of one
    "more_than": 1,
    "window_minutes": 5,
    "group_by": ["system", "payload.fn_name"],
    "summary": "{fn_name} failed {count} times on {system}",
}


@pytest.mark.parametrize("rules", [[FN_RULE]])
def test_group_by_a_payload_field_gives_an_alert_per_value(
    engine: Engine, emit: Emit, router: Router
) -> None:
    for fn_name in ("a", "b", "a", "b", "c"):
        fn_error(emit, "critical", fn_name)
    fn_error(emit, "high", "c")  # not critical
    router.drain()
    found = {a.labels["fn_name"]: a for a in all_alerts(engine)}
    assert sorted(found) == ["a", "b"]
    assert found["a"].summary == "a failed 2 times on backend"
    assert found["a"].fingerprint != found["b"].fingerprint


def test_two_routers_counting_one_burst_at_once_still_fire(
    engine: Engine, catalog: Catalog, clock: FrozenClock
) -> None:
    """Each router holds half the burst: the second counts only after the first commits
    (PostgreSQL: an advisory lock per fingerprint; SQLite: one writer at a time)."""
    now = clock.now()

    def rows(first: int) -> list[dict[str, Any]]:
        at = now + timedelta(seconds=first)  # other seconds: no count row in common
        return [
            {"seq": n, "event_id": f"e-{n}", "type": "backend.fn.error", "source": "backend",
             "occurred_at": at, "received_at": at, "correlation_id": None,
             "payload": {"fn_name": "f", "severity": "high"}}
            for n in (first, first + 1)
        ]  # fmt: skip

    second_done = threading.Event()

    def second_router() -> None:
        with unit_of_work(engine) as conn:
            apply_rates(conn, catalog, plan_rates(catalog, rows(3)))
        second_done.set()

    with unit_of_work(engine) as conn:
        apply_rates(conn, catalog, plan_rates(catalog, rows(1)))
        other = threading.Thread(target=second_router)
        other.start()
        assert not second_done.wait(0.5)  # waiting for the first to commit
    other.join(timeout=10)
    assert second_done.is_set()
    assert only_alert(engine).value == 4
