"""A real `ct worker` process killed with SIGKILL mid-call: another worker finishes the same
run after the lease expires, and the target applies it exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.kit.clock import FrozenClock
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Staff
from tests.runs.conftest import WorkerFactory
from tests.runs.helpers import run_row, show, trigger
from tests.runs.target_server import Target


def worker_process(database_url: str, target: Target, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CT_DATABASE_URL": database_url,
        "CT_SECRET_KEY": TEST_MASTER_KEY,
        "CT_DATA_DIR": str(data_dir),
        "CT_TRIGGER_TARGET_BASE_URL": target.url,
        "CT_WORKER_POLL_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from control_tower.cli.main import app; app()", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_mid_call_then_lease_expiry_finishes_the_same_run_once(
    api: TestClient,
    staff: Staff,
    engine: Engine,
    database_url: str,
    target: Target,
    run_clock: FrozenClock,
    make_worker: WorkerFactory,
    tmp_path: Path,
) -> None:
    # The subprocess runs on the real clock: make the run due by it.
    run_clock.set(datetime.now(UTC) - timedelta(minutes=1))
    target.state.script = ["hang"]  # apply the effect, then keep the call open
    run_id = trigger(api, staff)
    process = worker_process(database_url, target, tmp_path / "worker")
    try:
        assert target.state.arrived.wait(timeout=60), "the worker process never called"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    target.state.release.set()
    assert target.effects == {run_id: 1}
    row = run_row(engine, run_id)
    assert row.status == "running"
    assert row.lease_owner is not None
    dead_owner = row.lease_owner

    rescuer = make_worker("rescuer")
    run_clock.set(row.lease_expires_at - timedelta(seconds=1))
    assert rescuer.run_once() is None  # the dead worker's lease still holds
    run_clock.set(row.lease_expires_at)
    step = rescuer.run_once()
    assert step is not None
    assert step.run_id == run_id
    assert step.status == "success"
    assert [d.idempotency_key for d in target.deliveries] == [run_id, run_id]
    assert target.effects == {run_id: 1}
    run = show(api, staff, run_id)
    assert run["status"] == "success"
    assert dead_owner in run["metrics"]["attempt_log"][0]["error"]
    assert [t["to_status"] for t in run["transitions"]] == ["queued", "running", "success"]


def test_worker_process_stops_cleanly_on_sigterm(
    api: TestClient,
    staff: Staff,
    database_url: str,
    target: Target,
    run_clock: FrozenClock,
    tmp_path: Path,
) -> None:
    run_clock.set(datetime.now(UTC) - timedelta(minutes=1))
    run_id = trigger(api, staff)
    process = worker_process(database_url, target, tmp_path / "worker")
    try:
        deadline = time.monotonic() + 60
        while show(api, staff, run_id)["status"] != "success" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert show(api, staff, run_id)["status"] == "success"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert target.effects == {run_id: 1}
