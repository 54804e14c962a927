"""Each objective's status, its reasons and evidence, and status = the worst objective."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import slo
from control_tower.health.schemas import HealthStatus
from control_tower.kit.clock import FrozenClock
from control_tower.routing.router import Router
from tests.helpers import Emit

# Thursday 26 November 2026, 10:00 GMT: inside business hours.
THURSDAY_10 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def evaluate(engine: Engine, catalog: Catalog, system_id: str, now: datetime) -> slo.Evaluation:
    system = catalog.system(system_id)
    assert system is not None
    with unit_of_work(engine, write=False) as conn:
        return slo.evaluate(conn, system, now)


def reason(ev: slo.Evaluation, objective: str) -> slo.Reason:
    return next(r for r in ev.reasons if r.objective == objective)


def test_unknown_before_any_signal(engine: Engine, catalog: Catalog) -> None:
    ev = evaluate(engine, catalog, "backend", THURSDAY_10)
    assert ev.status is HealthStatus.unknown
    assert ev.reasons[0].objective == "signal"


def test_heartbeat_gap_green_amber_red_in_business_hours(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    hb = emit("system.heartbeat", "backend", {"system_id": "backend"}, late=timedelta(0))
    router.drain()
    green = evaluate(engine, catalog, "backend", THURSDAY_10 + timedelta(minutes=14))
    assert green.status is HealthStatus.green
    amber = evaluate(engine, catalog, "backend", THURSDAY_10 + timedelta(minutes=16))
    assert amber.status is HealthStatus.amber
    why = reason(amber, "heartbeat_gap")
    assert why.status is HealthStatus.amber
    assert why.measured["gap_minutes"] == 16
    assert why.evidence == [hb]
    assert "15" in why.threshold
    assert why.window == "business hours"
    red = evaluate(engine, catalog, "backend", THURSDAY_10 + timedelta(minutes=31))
    assert red.status is HealthStatus.red


def test_gap_outside_business_hours_does_not_turn_red(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    friday_evening = datetime(2026, 11, 27, 17, 55, tzinfo=UTC)
    clock.set(friday_evening)
    emit("system.heartbeat", "backend", {"system_id": "backend"}, late=timedelta(0))
    router.drain()
    sunday_night = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert evaluate(engine, catalog, "backend", sunday_night).status is HealthStatus.green
    monday = datetime(2026, 11, 30, 8, 9, tzinfo=UTC)  # 5 + 9 = 14 business minutes
    assert evaluate(engine, catalog, "backend", monday).status is HealthStatus.green
    monday_late = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    assert evaluate(engine, catalog, "backend", monday_late).status is HealthStatus.red


def test_any_event_from_the_systems_source_is_a_heartbeat(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    upload = emit(
        "portal.upload.received", "portal", {"contractor_id": "c1", "file_ref": "f1"},
        late=timedelta(0),
    )  # fmt: skip
    router.drain()
    ev = evaluate(engine, catalog, "portal", THURSDAY_10 + timedelta(minutes=5))
    assert ev.last_heartbeat_at == THURSDAY_10
    assert reason(ev, "heartbeat_gap").evidence == [upload]


def test_errors_in_24h_thresholds_with_evidence(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    ids = [
        emit("backend.fn.error", "backend", {"fn_name": "f", "severity": sev})
        for sev in ("high", "low", "critical")
    ]
    router.drain()
    ev = evaluate(engine, catalog, "backend", THURSDAY_10)
    why = reason(ev, "errors_24h")
    assert why.status is HealthStatus.amber  # amber at 3
    assert why.measured == {"errors": 3, "high_or_critical": 2}
    assert set(why.evidence) == set(ids)
    assert ev.status is HealthStatus.amber
    assert ev.errors_24h == 3
    for _ in range(7):
        emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "low"})
    router.drain()
    assert reason(evaluate(engine, catalog, "backend", THURSDAY_10), "errors_24h").status is (
        HealthStatus.red
    )
    # A day later the errors have left the window.
    later = evaluate(engine, catalog, "backend", THURSDAY_10 + timedelta(hours=25))
    assert reason(later, "errors_24h").measured["errors"] == 0


def test_intake_latency_p95(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    for _ in range(18):
        emit("system.heartbeat", "website", {"system_id": "website"}, late=timedelta(seconds=3))
    router.drain()
    assert reason(
        evaluate(engine, catalog, "website", THURSDAY_10), "intake_latency_p95"
    ).status is (HealthStatus.green)
    slow = [
        emit("system.heartbeat", "website", {"system_id": "website"}, late=timedelta(minutes=8))
        for _ in range(2)
    ]
    router.drain()
    why = reason(evaluate(engine, catalog, "website", THURSDAY_10), "intake_latency_p95")
    assert why.status is HealthStatus.amber  # 2 of 20 late: the p95 falls in the 8-minute bucket
    assert why.measured["p95_seconds_at_most"] == 600
    assert set(why.evidence) == set(slow)


def test_run_success_rate_over_seven_days(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)

    def run(status: str) -> str:
        return emit(
            "ct.run.completed", "ct",
            {"run_id": f"r-{status}", "trigger": "t", "status": status, "system_id": "finance"},
        )  # fmt: skip

    for _ in range(99):
        run("success")
    router.drain()
    ev = evaluate(engine, catalog, "finance", THURSDAY_10)
    assert reason(ev, "run_success_rate").status is HealthStatus.green
    failed = run("failed")
    failed2 = run("failed")
    router.drain()
    why = reason(evaluate(engine, catalog, "finance", THURSDAY_10), "run_success_rate")
    assert why.status is HealthStatus.amber
    assert why.measured == {"rate": 0.9802, "succeeded": 99, "failed": 2}
    assert set(why.evidence) == {failed, failed2}


def test_status_is_the_worst_objective_and_reasons_sort_worst_first(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    for _ in range(10):
        emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"})
    router.drain()
    ev = evaluate(engine, catalog, "backend", THURSDAY_10 + timedelta(minutes=20))
    assert ev.status is HealthStatus.red
    assert ev.reasons[0].status is HealthStatus.red
    assert {r.objective for r in ev.reasons} == {
        "heartbeat_gap", "errors_24h", "intake_latency_p95", "run_success_rate"
    }  # fmt: skip


def test_a_failed_check_is_an_error_for_its_system_not_a_heartbeat(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    failed = emit(
        "system.check.failed", "ct",
        {"system_id": "portal", "poller": "portal-http", "error": "timeout"},
    )  # fmt: skip
    router.drain()
    ev = evaluate(engine, catalog, "portal", THURSDAY_10)
    assert reason(ev, "errors_24h").evidence == [failed]
    assert ev.last_heartbeat_at is None
    assert reason(ev, "heartbeat_gap").status is HealthStatus.unknown


def test_run_results_count_for_the_triggers_target_system(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    trigger = catalog.trigger("contract.regenerate")
    assert trigger is not None
    clock.set(THURSDAY_10)
    emit(
        "ct.run.completed", "ct",
        {"run_id": "r-1", "trigger": "contract.regenerate", "status": "failed"},
    )  # fmt: skip
    router.drain()
    ev = evaluate(engine, catalog, trigger.target.system, THURSDAY_10)
    assert reason(ev, "run_success_rate").measured == {"rate": 0.0, "succeeded": 0, "failed": 1}
