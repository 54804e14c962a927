"""The HTTP check against a real local server, on both stores."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine

from control_tower.catalog.pollers import HttpPoller
from control_tower.kit.clock import FrozenClock
from control_tower.observability.metrics import Metrics
from control_tower.pollers.service import run_poller
from control_tower.pollers.tasks import poller_jobs
from control_tower.scheduler import Slot, slot_for
from tests.pollers.fakes import (
    HealthState,
    catalog_with,
    http_poller,
    poller_state_row,
    stored_events,
)


@pytest.fixture(autouse=True)
def on_the_hour(clock: FrozenClock) -> None:
    """Slots are aligned to their interval: start these tests on a slot boundary, today's."""
    clock.set(clock.now().replace(minute=0, second=0, microsecond=0))


def _run(engine: Engine, clock: FrozenClock, url: str, **overrides: object) -> tuple[str, object]:
    catalog = catalog_with([http_poller(url, **overrides)])
    poller = catalog.pollers[0]
    assert isinstance(poller, HttpPoller)
    slot = slot_for(clock.now(), poller.interval_seconds)
    outcome = run_poller(engine, catalog, poller, slot=slot, clock=clock)
    return f"poll:backend-health:{int(slot.timestamp())}", outcome


def test_success_is_a_heartbeat_with_the_slot_id(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    event_id, outcome = _run(
        engine, clock, f"{url}/healthz", json_field="status", expected_value="ok"
    )
    assert outcome.status == "ok"  # type: ignore[attr-defined]
    [row] = stored_events(engine)
    assert row.event_id == event_id
    assert row.type == "system.heartbeat"
    assert row.source == "ct"
    assert row.producer == "poller:backend-health"
    assert row.payload["system_id"] == "backend"
    assert row.payload["poller"] == "backend-health"
    assert row.payload["status_code"] == 200
    assert isinstance(row.payload["latency_ms"], int)
    assert state.hits == 1
    saved = poller_state_row(engine, "backend-health")
    assert saved is not None
    assert saved.status == "ok"
    assert saved.last_success_at == clock.now()


def test_rerunning_a_slot_stores_no_second_event(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    _run(engine, clock, url)
    clock.advance(timedelta(seconds=10))  # same 60 s slot
    _, again = _run(engine, clock, url)
    assert again.new_event_ids == []  # type: ignore[attr-defined]
    assert len(stored_events(engine)) == 1
    assert state.hits == 2  # it did check again; it just recorded nothing new
    clock.advance(timedelta(seconds=60))  # the next slot is a new poll
    _, later = _run(engine, clock, url)
    assert len(later.new_event_ids) == 1  # type: ignore[attr-defined]
    assert len(stored_events(engine, "system.heartbeat")) == 2


def test_timeout_is_a_check_failure(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.hang = True
    event_id, outcome = _run(engine, clock, url, timeout_seconds=0.2)
    state.release.set()
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    [row] = stored_events(engine)
    assert row.event_id == event_id
    assert row.type == "system.check.failed"
    assert row.payload == {
        "system_id": "backend",
        "poller": "backend-health",
        "error": "timeout after 0.2 s",
        "status_code": None,
    }


def test_connection_refused_is_a_check_failure(engine: Engine, clock: FrozenClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, outcome = _run(engine, clock, f"http://127.0.0.1:{port}/healthz")
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    [row] = stored_events(engine, "system.check.failed")
    assert row.payload["error"].startswith("connection error: ConnectError")


def test_wrong_status_is_a_check_failure(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.status = 503
    _run(engine, clock, url)
    [row] = stored_events(engine)
    assert row.type == "system.check.failed"
    assert row.payload["error"] == "status 503, expected 200"
    assert row.payload["status_code"] == 503
    saved = poller_state_row(engine, "backend-health")
    assert saved is not None
    assert saved.status == "failed"
    assert saved.last_success_at is None


def test_expected_status_other_than_200(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.status = 204
    state.body = None
    _, outcome = _run(engine, clock, url, expected_status=204)
    assert outcome.status == "ok"  # type: ignore[attr-defined]


def test_wrong_json_field_is_a_check_failure(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.body = {"status": "degraded", "checks": {"db": "ok"}}
    _run(engine, clock, url, json_field="status", expected_value="ok")
    [row] = stored_events(engine)
    assert row.type == "system.check.failed"
    assert row.payload["error"] == "JSON field 'status' is 'degraded', expected 'ok'"
    assert row.payload["status_code"] == 200


def test_nested_json_field_and_missing_field(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.body = {"checks": {"db": "ok"}}
    _, good = _run(engine, clock, url, json_field="checks.db", expected_value="ok")
    assert good.status == "ok"  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=1))
    _, missing = _run(engine, clock, url, json_field="status", expected_value="ok")
    assert missing.status == "failed"  # type: ignore[attr-defined]
    assert missing.detail == "JSON field 'status' is missing"  # type: ignore[attr-defined]


def test_body_that_is_not_json(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    state.raw_body = b"<html>ok</html>"
    _, outcome = _run(engine, clock, url, json_field="status", expected_value="ok")
    assert outcome.detail == "the response body is not JSON"  # type: ignore[attr-defined]


def test_a_failure_after_success_keeps_the_last_success_time(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    state, url = health
    _run(engine, clock, url)
    first_success = clock.now()
    clock.advance(timedelta(minutes=1))
    state.status = 500
    _run(engine, clock, url)
    saved = poller_state_row(engine, "backend-health")
    assert saved is not None
    assert saved.status == "failed"
    assert saved.last_success_at == first_success
    assert saved.last_polled_at == clock.now()


def test_scheduled_polls_are_counted_in_metrics(
    engine: Engine, clock: FrozenClock, health: tuple[HealthState, str]
) -> None:
    _, url = health
    catalog = catalog_with(
        [
            http_poller(f"{url}/healthz"),
            http_poller(f"{url}/missing", name="backend-missing", expected_status=204),
        ]
    )
    metrics = Metrics()
    jobs = poller_jobs(engine, catalog, clock, metrics=metrics)
    slot = Slot(jobs[0].schedule.slot_at_or_before(clock.now()))
    for job in jobs:
        job.run(slot)
    jobs[0].run(slot)  # the same slot again: nothing new stored
    text = generate_latest(metrics.registry).decode()
    ok, failed = catalog.pollers[0].name, catalog.pollers[1].name
    assert f'ct_polls_total{{outcome="ok",poller="{ok}"}} 2.0' in text
    assert f'ct_polls_total{{outcome="failed",poller="{failed}"}} 1.0' in text
    assert f'ct_poll_events_total{{poller="{ok}"}} 1.0' in text
    assert f'ct_poll_duration_seconds_count{{poller="{ok}"}} 2.0' in text
