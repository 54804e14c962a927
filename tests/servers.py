"""Run real CT server processes (and the `ct` CLI) for integration tests.

`run_server` starts `python -m control_tower.cli.main serve` on a free 127.0.0.1 port in its own
process group, waits for `/readyz`, and on exit stops it (SIGTERM, then SIGKILL). `kill()` is a
`kill -9` of the whole group, for crash tests. The server's stdout and stderr go to a log file
that tests can read (`log_text()`, `log_lines()`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_tower.auth.roles import Role
from control_tower.auth.tokens import IssuedToken
from tests.helpers import Producer

CLI_MODULE = "control_tower.cli.main"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ct_env(database_url: str, data_dir: Path, secret_key: str, **extra: str) -> dict[str, str]:
    """The environment of a CT process: the parent's, minus any CT_* it had, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
    env.update(
        CT_DATABASE_URL=database_url,
        CT_DATA_DIR=str(data_dir),
        CT_SECRET_KEY=secret_key,
        # The built-in pollers (CT's own /healthz on :8080, GitHub) would add events of their
        # own; tests that count events start servers without the scheduler.
        CT_SCHEDULER_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"CT_{k.upper()}": v for k, v in extra.items()})
    return env


def ct_cli(env: dict[str, str], *args: str, timeout: float = 60.0) -> str:
    """Run `ct ARGS…` in a subprocess; its stdout, or AssertionError with stderr."""
    done = subprocess.run(
        [sys.executable, "-m", CLI_MODULE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"ct {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return done.stdout


def create_token(env: dict[str, str], name: str, role: str, *extra: str) -> dict[str, Any]:
    """`ct token create --json` in a subprocess: {"token", "role", "name"[, "hmac_secret"]}."""
    issued: dict[str, Any] = json.loads(
        ct_cli(env, "token", "create", "--name", name, "--role", role, "--json", *extra)
    )
    return issued


def producer_from_cli(env: dict[str, str], name: str, source: str, *extra: str) -> Producer:
    issued = create_token(env, name, "producer", "--source", source, *extra)
    return Producer(
        IssuedToken(name, Role.producer, source, issued["token"], issued["hmac_secret"], None)
    )


def bearer(issued: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued['token']}"}


@pytest.fixture
def server_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment for CT processes on this test's store (see conftest `database_url`)."""
    from tests.conftest import TEST_MASTER_KEY

    return ct_env(database_url, tmp_path / "data", TEST_MASTER_KEY)


@dataclass
class CTServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """`kill -9` the server and every process it started (uvicorn workers included)."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the group); SIGKILL if it does not end in time."""
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines the server wrote so far (other lines are left out)."""
        lines = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return lines


def wait_ready(server: CTServer, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(
                    f"CT server exited with {server.process.returncode}:\n{server.log_text()}"
                )
            try:
                answer = client.get("/readyz")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"CT server not ready after {timeout} s ({last}):\n{server.log_text()}")


@contextmanager
def run_server(
    env: dict[str, str], log_dir: Path, *, workers: int = 1, port: int | None = None
) -> Iterator[CTServer]:
    """A CT server process on `port` (default: a free one), ready when the block starts,
    stopped when it ends."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"ct-server-{port}.log"
    command = [sys.executable, "-m", CLI_MODULE, "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = CTServer(f"http://127.0.0.1:{port}", process, log_path, env)
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


def listed_events(url: str, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    """Every stored event matching the query, through `GET /events` (all pages), newest first."""
    found: list[dict[str, Any]] = []
    params: dict[str, str | int] = {**query, "limit": 500}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while True:
            page = client.get("/events", params=params)
            assert page.status_code == 200, page.text
            found.extend(page.json()["items"])
            if not page.json()["next_cursor"]:
                return found
            params["cursor"] = page.json()["next_cursor"]


def child_processes(server: CTServer, marker: bytes) -> list[int]:
    """Live processes whose parent is the server and whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state, parent = stat[0], int(stat[1])
        if parent == server.process.pid and marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
