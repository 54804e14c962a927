"""When the store cannot be reached, CT answers 503 `store_unavailable` with Retry-After (never
500), logs one line per kind of failure per interval, and /readyz says why; a 500 closes the
connection it was sent on. With a real unreachable PostgreSQL address and a real server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_tower.app import create_app
from control_tower.observability.logging import configure_logging
from control_tower.settings import Settings
from tests.helpers import assert_error
from tests.servers import free_port

# Nothing listens on port 1: every connection attempt is refused at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/ct"


def unreachable_app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=UNREACHABLE, secret_key="k",
        router_enabled=False, scheduler_enabled=False, worker_enabled=False,
    )  # fmt: skip
    return create_app(settings, migrate=False)


def test_requests_get_503_with_retry_after_when_the_store_is_down(tmp_path: Path) -> None:
    with TestClient(unreachable_app(tmp_path), raise_server_exceptions=False) as client:
        for path in ("/events", "/health", "/runs", "/dlq"):
            answer = client.get(path, headers={"Authorization": "Bearer ct_some-token"})
            assert_error(answer, 503, "store_unavailable")
            assert int(answer.headers["Retry-After"]) >= 1
        posted = client.post("/events", content=b"{}", headers={"Authorization": "Bearer x"})
        assert_error(posted, 503, "store_unavailable")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "port 1" in ready.json()["reason"] or "refused" in ready.json()["reason"]


def test_a_burst_of_failures_logs_one_line_per_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_logs=True)
    try:
        with TestClient(unreachable_app(tmp_path), raise_server_exceptions=False) as client:
            capsys.readouterr()
            statuses = [
                client.get("/events", headers={"Authorization": "Bearer ct_x"}).status_code
                for _ in range(40)
            ]
        out = capsys.readouterr().out
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers = []
    assert set(statuses) == {503}
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len([line for line in lines if line.get("event") == "store_unavailable"]) == 1
    assert len([line for line in lines if line.get("event") == "request"]) == 40
    # One line with its (chained) traceback, not forty.
    assert sum(1 for line in lines if "Traceback" in json.dumps(line)) == 1


def test_a_500_answers_connection_close_and_the_next_request_succeeds(tmp_path: Path) -> None:
    """A keep-alive client must not send its next request into a connection the server closes."""
    import threading

    import uvicorn

    settings = Settings(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'ct.sqlite3'}",
        secret_key="k", router_enabled=False, scheduler_enabled=False, worker_enabled=False,
    )  # fmt: skip
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    import time

                    time.sleep(0.05)
            crashed = client.get("/boom")
            assert crashed.status_code == 500
            assert crashed.headers["connection"] == "close"
            assert client.get("/healthz").status_code == 200  # a new connection, no error
    finally:
        server.should_exit = True
        thread.join(10)
