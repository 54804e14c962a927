"""The worker: signed calls, retries with backoff, fail-fast, leases, effect exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.catalog import load_default_catalog
from control_tower.kit.clock import FrozenClock
from control_tower.runs.worker import Claim
from tests.helpers import Staff
from tests.runs.conftest import WorkerFactory
from tests.runs.helpers import run_row, show, trigger
from tests.runs.target_server import Target


def test_a_run_succeeds_once_with_a_signed_call(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    run_id = trigger(api, staff)
    step = make_worker().run_once()
    assert step is not None
    assert step.status == "success"
    [delivery] = target.deliveries
    assert delivery.signature_ok
    assert delivery.idempotency_key == run_id
    assert delivery.headers["x-ct-trigger"] == "contract.regenerate"
    assert delivery.body["inputs"] == {"contract_id": "C-1"}
    assert target.effects == {run_id: 1}
    run = show(api, staff, run_id)
    assert run["status"] == "success"
    assert run["ended_at"] is not None
    assert [(t["from_status"], t["to_status"]) for t in run["transitions"]] == [
        (None, "queued"),
        ("queued", "running"),
        ("running", "success"),
    ]
    assert run["metrics"]["attempts"] == 1
    assert len(run["metrics"]["durations_ms"]) == 1
    assert run["metrics"]["target_report"]["items_pushed"] == 3
    types = [(e["type"], e["correlation_id"], e["payload"]["status"]) for e in run["events"]]
    assert types == [("ct.run.started", run_id, "running"), ("ct.run.completed", run_id, "success")]
    assert make_worker("w2").run_once() is None


def test_503_then_200_retries_after_backoff_and_applies_once(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target.state.script = ["apply_503", 503]
    run_id = trigger(api, staff)
    worker = make_worker()
    first = worker.run_once()
    assert first is not None
    assert first.status == "running"
    assert first.call is not None
    assert first.call.status_code == 503
    row = run_row(engine, run_id)
    assert row.lease_owner is None
    # contract.regenerate: base 2 s → the first wait is between 1 and 2 s (equal jitter).
    wait = row.next_attempt_at - run_clock.now()
    assert timedelta(seconds=1) <= wait <= timedelta(seconds=2)
    assert worker.run_once() is None  # not due yet
    run_clock.set(row.next_attempt_at)
    second = worker.run_once()
    assert second is not None
    assert second.call is not None
    assert second.call.status_code == 503
    wait2 = run_row(engine, run_id).next_attempt_at - run_clock.now()
    assert timedelta(seconds=2) <= wait2 <= timedelta(seconds=4)
    run_clock.advance(wait2)
    third = worker.run_once()
    assert third is not None
    assert third.status == "success"
    assert [d.answered for d in target.deliveries] == [503, 503, 200]
    assert {d.idempotency_key for d in target.deliveries} == {run_id}
    assert target.effects == {run_id: 1}
    shown = show(api, staff, run_id)
    # Each attempt points at the JSON log line the worker wrote for it.
    assert [(r["event"], r["run_id"], r["attempt"], r["outcome"], r["status_code"])
            for r in shown["logs"]] == [
        ("run_attempt", run_id, 1, "retry", 503),
        ("run_attempt", run_id, 2, "retry", 503),
        ("run_attempt", run_id, 3, "success", 200),
    ]  # fmt: skip
    logged = [line for line in capsys.readouterr().out.splitlines() if "run_attempt" in line]
    assert len([line for line in logged if run_id in line]) == 3
    metrics = shown["metrics"]
    assert metrics["attempts"] == 3
    assert [a["status_code"] for a in metrics["attempt_log"]] == [503, 503, 200]
    assert metrics["target_report"]["applied"] is False  # the target deduplicated


def test_4xx_fails_fast(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    target.state.script = [400]
    run_id = trigger(api, staff)
    step = make_worker().run_once()
    assert step is not None
    assert step.status == "failed"
    run = show(api, staff, run_id)
    assert run["status"] == "failed"
    assert run["attempts"] == 1
    assert "400" in run["transitions"][-1]["reason"]
    assert run["events"][-1]["payload"]["status"] == "failed"
    assert target.effects == {}


def test_gives_up_after_max_attempts(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
) -> None:
    target.state.script = [503] * 5  # contract.regenerate: max_attempts 5
    run_id = trigger(api, staff)
    worker = make_worker()
    steps = []
    for _ in range(10):
        step = worker.run_once()
        if step is not None:
            steps.append(step)
            if step.status == "failed":
                break
        run_clock.advance(timedelta(minutes=5))
    assert [s.status for s in steps] == ["running"] * 4 + ["failed"]
    assert show(api, staff, run_id)["metrics"]["attempts"] == 5
    assert len(target.deliveries) == 5
    assert target.effects == {}


def test_a_timeout_is_retried_and_still_applies_once(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
) -> None:
    catalog = load_default_catalog()
    quick = catalog.model_copy(deep=True)
    for trig in quick.triggers:
        trig.timeout_seconds = 0.2
    quick.model_post_init(None)
    target.state.script = ["hang"]  # applies the effect, then never answers in time
    run_id = trigger(api, staff)
    worker = make_worker(catalog=quick)
    first = worker.run_once()
    target.state.release.set()
    assert first is not None
    assert first.call is not None
    assert first.call.outcome == "retry"
    assert first.call.error is not None
    assert first.call.error.startswith("timeout")
    run_clock.advance(timedelta(minutes=1))
    second = worker.run_once()
    assert second is not None
    assert second.status == "success"
    assert target.effects == {run_id: 1}
    assert len(target.deliveries) == 2


def test_an_abandoned_lease_expires_and_another_worker_finishes_the_same_run(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
    engine: Engine,
) -> None:
    run_id = trigger(api, staff)
    crashed = make_worker("crashed", lease_seconds=30)
    claim = crashed.claim()
    assert isinstance(claim, Claim)
    # It called the target (which applied the effect) and died before recording anything.
    crashed.call_target(claim)
    assert target.effects == {run_id: 1}
    rescuer = make_worker("rescuer")
    assert rescuer.run_once() is None  # the lease still holds
    row = run_row(engine, run_id)
    assert row.status == "running"
    assert row.lease_owner == "crashed"
    run_clock.set(row.lease_expires_at)
    step = rescuer.run_once()
    assert step is not None
    assert step.run_id == run_id
    assert step.status == "success"
    assert [d.idempotency_key for d in target.deliveries] == [run_id, run_id]
    assert target.effects == {run_id: 1}
    # The crashed worker comes back: its result is fenced off, nothing is written.
    late = crashed.finish(claim, crashed.call_target(claim))
    assert late.action == "lost_lease"
    run = show(api, staff, run_id)
    assert run["status"] == "success"
    assert [a["outcome"] for a in run["metrics"]["attempt_log"]] == ["lost", "success"]
    assert [t["to_status"] for t in run["transitions"]] == ["queued", "running", "success"]
    assert target.effects == {run_id: 1}


def test_duplicate_requests_and_concurrent_workers_apply_each_run_once(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
) -> None:
    target.state.script = [503, "apply_503", 503]
    run_ids = set()
    for contract in ("C-1", "C-2", "C-3"):
        for _ in range(3):  # each request sent three times
            run_ids.add(trigger(api, staff, contract))
    keyed = {trigger(api, staff, "C-4", **{"Idempotency-Key": "same"}) for _ in range(3)}
    run_ids |= keyed
    assert len(run_ids) == 4
    workers = [make_worker(f"w{i}") for i in range(3)]
    errors: list[BaseException] = []

    def drain(index: int) -> None:
        try:
            workers[index].run_until_idle()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    for _ in range(6):
        threads = [threading.Thread(target=drain, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        run_clock.advance(timedelta(minutes=5))
    assert errors == []
    statuses = {show(api, staff, run_id)["status"] for run_id in run_ids}
    assert statuses == {"success"}
    assert target.effects == dict.fromkeys(run_ids, 1)


def test_429_and_408_are_retried_like_5xx(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    run_clock: FrozenClock,
) -> None:
    target.state.script = [429, 408]
    run_id = trigger(api, staff)
    worker = make_worker()
    statuses = []
    for _ in range(3):
        step = worker.run_once()
        assert step is not None
        statuses.append(step.status)
        run_clock.advance(timedelta(minutes=5))
    assert statuses == ["running", "running", "success"]
    assert target.effects == {run_id: 1}


def test_a_run_whose_trigger_left_the_catalogue_fails_without_a_call(
    api: TestClient, staff: Staff, make_worker: WorkerFactory, target: Target
) -> None:
    run_id = trigger(api, staff)
    smaller = load_default_catalog().model_copy(deep=True)
    smaller.triggers = [t for t in smaller.triggers if t.name != "contract.regenerate"]
    smaller.model_post_init(None)
    step = make_worker(catalog=smaller).run_once()
    assert step is not None
    assert step.status == "failed"
    run = show(api, staff, run_id)
    assert "no longer in the catalogue" in run["transitions"][-1]["reason"]
    assert target.deliveries == []


def test_calls_to_targets_ignore_proxy_settings_from_the_environment(
    api: TestClient,
    staff: Staff,
    make_worker: WorkerFactory,
    target: Target,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A signed call goes straight to its target: a proxy named by the environment (here one
    # where nothing listens) never sees it.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    run_id = trigger(api, staff)
    step = make_worker().run_once()
    assert step is not None
    assert step.status == "success"
    assert target.effects == {run_id: 1}
