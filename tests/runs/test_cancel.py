"""Cancelling runs: queued at once, running cooperatively, finished ones refused."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.runs.worker import Claim, StepResult
from tests.helpers import Staff
from tests.runs.conftest import WorkerFactory
from tests.runs.helpers import run_row, show, trigger
from tests.runs.target_server import Target


def test_cancel_a_queued_run(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    run_id = trigger(api, staff)
    response = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert response.status_code == 200
    assert response.json() == {"run_id": run_id, "status": "cancelled", "cancel_requested": True}
    assert make_worker().run_once() is None
    run = show(api, staff, run_id)
    assert run["status"] == "cancelled"
    assert run["transitions"][-1]["actor"] == "operator-user"
    assert run["events"][-1]["type"] == "ct.run.completed"
    assert run["events"][-1]["payload"]["status"] == "cancelled"
    assert target.deliveries == []


def test_cancel_a_claimed_run_when_its_failed_call_returns(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    run_id = trigger(api, staff)
    worker = make_worker()
    claim = worker.claim()
    assert isinstance(claim, Claim)
    response = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert response.status_code == 202
    assert response.json() == {"run_id": run_id, "status": "running", "cancel_requested": True}
    target.state.script = [503]
    step = worker.finish(claim, worker.call_target(claim))
    assert step.status == "cancelled"  # not retried
    assert show(api, staff, run_id)["status"] == "cancelled"
    assert target.effects == {}


def test_cancel_is_checked_before_the_next_attempt(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
    engine: Engine,
) -> None:
    run_id = trigger(api, staff)
    crashed = make_worker("crashed")
    assert isinstance(crashed.claim(), Claim)
    response = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert response.status_code == 202
    run_clock.set(run_row(engine, run_id).lease_expires_at)
    step = make_worker("next").run_once()
    assert step is not None
    assert step.action == "cancelled"
    assert target.deliveries == []
    run = show(api, staff, run_id)
    assert run["status"] == "cancelled"
    assert run["transitions"][-1]["reason"].startswith("cancel requested")


def test_cancel_during_the_call_takes_effect_when_it_returns(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    target.state.script = ["slow"]
    run_id = trigger(api, staff)
    worker = make_worker()
    result: list[StepResult | None] = []
    thread = threading.Thread(target=lambda: result.append(worker.run_once()))
    thread.start()
    assert target.state.arrived.wait(timeout=30)
    response = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert response.status_code == 202
    target.state.release.set()
    thread.join(timeout=30)
    [step] = result
    assert step is not None
    # The call had already reached the target and succeeded: the run reports what happened.
    assert step.status == "success"
    run = show(api, staff, run_id)
    assert run["cancel_requested"] is True
    assert "too late" in run["transitions"][-1]["reason"]
    assert target.effects == {run_id: 1}


def test_cancel_between_retries_is_immediate(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    target.state.script = [503]
    run_id = trigger(api, staff)
    step = make_worker().run_once()
    assert step is not None
    assert step.status == "running"
    response = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert target.effects == {}


def test_finished_runs_are_409_and_unknown_404(
    api: TestClient, staff: Staff, make_worker: WorkerFactory
) -> None:
    run_id = trigger(api, staff)
    make_worker().run_once()
    finished = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    assert finished.status_code == 409
    assert finished.json()["error"]["code"] == "run_finished"
    missing = api.post("/runs/run-nope/cancel", headers=staff.headers(Role.operator))
    assert missing.status_code == 404
    viewer = api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.viewer))
    assert viewer.status_code == 403
