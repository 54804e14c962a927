"""`ct serve`: the API, the scheduler, and the router with the run worker in a child process."""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Annotated

import typer
import uvicorn

from control_tower.cli.common import engine, settings
from control_tower.kit.supervised import SupervisedChild
from control_tower.observability.logging import configure_logging
from control_tower.settings import Settings


def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes; use >1 only on PostgreSQL.")
    ] = 1,
) -> None:
    """Serve CT on http://HOST:PORT (migrates the store first)."""
    s = settings()
    configure_logging(s.log_level, s.log_json)
    router = router_child(s) if s.router_enabled and s.router_process else None
    received: list[int] = []
    if router is not None:
        # uvicorn re-raises the signal that stopped it once it has shut down, which would end
        # this process before it stops the child: the handler uvicorn restores first is this.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: received.append(signum))
        router.start()
    try:
        uvicorn.run(
            "control_tower.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        if router is not None:
            router.stop()
    for signum in received[:1]:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def router_child(s: Settings) -> SupervisedChild:
    """`ct worker --supervised`, with the API processes told to leave routing to it.

    Routing in the API process shares its interpreter lock with request handling: with the
    router apart, single events went from 34 to 40–42 % of the bare endpoint on PostgreSQL and
    SQLite batches from 32k to 38–43k events/s (docs/benchmarks.md). The run worker goes with
    the router (unless CT_WORKER_ENABLED=false).
    """
    with engine():
        pass  # migrate once, before the API and the child both start on the store
    metrics_port = _free_port()
    command = [sys.executable, "-m", "control_tower.cli.main", "worker", "--supervised"]
    command += ["--metrics-port", str(metrics_port)]
    if not s.worker_enabled:
        command.append("--no-run-worker")
    child = SupervisedChild("router", command, env=dict(os.environ))
    # uvicorn builds the app (and each of its worker processes) from the environment.
    os.environ.update(
        CT_ROUTER_ENABLED="false",
        CT_WORKER_ENABLED="false",
        CT_ROUTER_METRICS_URL=f"http://127.0.0.1:{metrics_port}/metrics",
    )
    return child


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
