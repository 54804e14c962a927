"""The router runs inside `ct serve` (the app's lifespan) and as a separate `ct worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.app import create_app
from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.models import event_routes
from control_tower.settings import Settings
from tests.helpers import Emit, Producer, Staff, make_event


def wait_for_status(engine: Engine, event_id: str, status: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    current = ""
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            current = conn.execute(
                select(event_routes.c.status).where(event_routes.c.event_id == event_id)
            ).scalar_one()
        if current == status:
            return current
        time.sleep(0.05)
    return current


def test_events_posted_to_the_server_get_routed(
    settings: Settings, producer: Producer, staff: Staff, engine: Engine, clock: FrozenClock
) -> None:
    live = settings.model_copy(update={"router_enabled": True})
    with TestClient(create_app(live, clock=clock)) as client:
        body, headers = producer.signed(make_event(event_id="live-1"))
        assert client.post("/events", content=body, headers=headers).status_code == 202
        assert wait_for_status(engine, "live-1", "routed") == "routed"
        event = client.get("/events/live-1", headers=staff.headers(Role.maintainer)).json()
        assert event["ingest"]["status"] == "routed"
        health = client.get("/health", headers=staff.headers(Role.viewer)).json()
        backend = next(s for s in health["systems"] if s["system_id"] == "backend")
        assert backend["errors_24h"] == 1
        metrics = client.get("/metrics", headers=staff.headers(Role.viewer)).text
        assert 'ct_router_events_total{outcome="routed"} 1.0' in metrics


def test_ct_worker_process_routes_events(
    settings: Settings, engine: Engine, emit: Emit, tmp_path: Path, clock: FrozenClock
) -> None:
    clock.set(datetime.now(UTC))  # the worker process runs on the real clock
    event_id = emit("system.heartbeat", "backend", {"system_id": "backend"})
    env = {
        **os.environ,
        "CT_DATABASE_URL": settings.resolved_database_url(),
        "CT_DATA_DIR": str(tmp_path),
        "CT_SECRET_KEY": "k",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "control_tower.cli.main", "worker", "--name", "w1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for_status(engine, event_id, "routed") == "routed"
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0, output
