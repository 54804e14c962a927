"""`ct serve` routes in a supervised child process: restarted if it dies, gone when CT stops."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx

from control_tower.cli.worker import serve_router_metrics
from control_tower.observability.metrics import Metrics
from tests.helpers import Producer, make_event, process_running, wait_for
from tests.servers import (
    CTServer,
    bearer,
    child_processes,
    create_token,
    producer_from_cli,
    run_server,
)


def router_children(server: CTServer) -> list[int]:
    """Live `ct worker --supervised` processes whose parent is the server."""
    return child_processes(server, b"--supervised")


def routed(http: httpx.Client, headers: dict[str, str], event_id: str) -> bool:
    answer = http.get(f"/events/{event_id}", headers=headers)
    return answer.status_code == 200 and answer.json()["ingest"]["status"] == "routed"


def post(http: httpx.Client, producer: Producer, event_id: str) -> None:
    body, headers = producer.signed(make_event(event_id=event_id))
    assert http.post("/events", content=body, headers=headers).status_code == 202


def test_the_router_child_routes_reports_metrics_and_comes_back_after_a_kill(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with run_server(server_env, tmp_path / "logs") as server, server.client() as http:
        producer = producer_from_cli(server_env, "rp-backend", "backend")
        staff = bearer(create_token(server_env, "rp-maintainer", "maintainer"))
        [child] = wait_for(lambda: router_children(server))  # type: ignore[misc]

        post(http, producer, "rp-1")
        wait_for(lambda: routed(http, staff, "rp-1"))
        metrics = http.get("/metrics", headers=staff).text
        assert "ct_router_process_up 1.0" in metrics
        assert 'ct_router_events_total{outcome="routed"}' in metrics
        assert metrics.count("# TYPE ct_router_events_total counter") == 1

        os.kill(child, signal.SIGKILL)
        [again] = wait_for(  # type: ignore[misc]
            lambda: [pid for pid in router_children(server) if pid != child]
        )
        post(http, producer, "rp-2")
        wait_for(lambda: routed(http, staff, "rp-2"))
        assert "child_exited" in server.log_text()

        server.stop()
        assert server.process.returncode == -signal.SIGTERM
        assert not process_running(again), "ct serve waits for its router child before it exits"


def test_the_router_child_ends_when_ct_serve_is_killed(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with run_server(server_env, tmp_path / "logs") as server:
        [child] = wait_for(lambda: router_children(server))  # type: ignore[misc]
        os.kill(server.process.pid, signal.SIGKILL)  # the parent only, not its group
        server.process.wait(timeout=10)
        wait_for(lambda: not process_running(child))


def test_a_router_whose_metrics_port_is_taken_still_routes() -> None:
    """The metrics endpoint is optional: a taken port is logged, nothing raised."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        serve_router_metrics(Metrics(), taken.getsockname()[1])
