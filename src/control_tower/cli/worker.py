"""`ct worker` (background loops in their own process) and `ct rebuild`."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import Annotated

import structlog
import typer
from prometheus_client import CollectorRegistry, start_http_server

from control_tower.app import load_configured_catalog
from control_tower.background import background_loops
from control_tower.cli.common import engine, settings
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.events.router_loop import RouterLoop
from control_tower.health.service import rebuild, record_status_changes
from control_tower.kit.clock import SystemClock
from control_tower.kit.loops import BackgroundLoops, Loop
from control_tower.observability.logging import configure_logging
from control_tower.observability.metrics import Metrics

log = structlog.get_logger(__name__)


def worker(
    name: Annotated[str | None, typer.Option("--name", help="Router name in leases.")] = None,
    run_worker: Annotated[
        bool, typer.Option("--run-worker/--no-run-worker", help="Also run the run worker.")
    ] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve the router's metrics on 127.0.0.1:PORT."),
    ] = None,
    supervised: Annotated[
        bool,
        typer.Option(
            "--supervised",
            hidden=True,
            help="Started by `ct serve`: stop when stdin closes; ignore SIGINT and SIGTERM.",
        ),
    ] = False,
) -> None:
    """Run the event router and the run worker until SIGTERM/SIGINT."""
    s = settings()
    configure_logging(s.log_level, s.log_json)
    with engine() as eng:
        ctx = AppContext.build(s, eng, load_configured_catalog(s), SystemClock())
        # CT_WORKER_ENABLED only keeps the run worker out of `ct serve`; here the flag decides.
        background = (
            background_loops(
                s.model_copy(update={"worker_enabled": True}),
                eng,
                ctx.catalog,
                ctx.clock,
                ctx.master_key,
            )
            if run_worker
            else []
        )
        if metrics_port is not None:
            serve_router_metrics(ctx.metrics, metrics_port)
        router = RouterLoop(ctx.new_router(name), ctx.metrics)
        asyncio.run(_run_loops([router], background, supervised))


def serve_router_metrics(metrics: Metrics, port: int) -> None:
    """The router's counters on http://127.0.0.1:PORT/ (a thread), for `ct serve` to merge.

    A port taken meanwhile costs the metrics, not the routing: `ct serve` then reports
    `ct_router_process_up 0`."""
    registry = CollectorRegistry()
    registry.register(metrics.routed)
    try:
        start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        log.warning("router_metrics_not_served", port=port, error=str(exc))


async def _run_loops(loops: list[RouterLoop], background: list[Loop], supervised: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if supervised:
        # The parent stops us by closing our stdin (or by dying); the signals a terminal or a
        # service manager sends the whole group go to the parent, which then stops us in turn.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        threading.Thread(target=_stop_at_eof, args=(loop, stop), daemon=True).start()
    else:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    for item in loops:
        await item.start()
    others = BackgroundLoops(background)
    others.start()
    typer.echo(f"worker running {len(loops) + len(background)} loop(s); Ctrl-C to stop", err=True)
    await stop.wait()
    await others.stop()
    for item in loops:
        await item.stop()


def _stop_at_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    while sys.stdin.buffer.read(4096):
        pass
    loop.call_soon_threadsafe(stop.set)


def rebuild_cmd() -> None:
    """Recompute health rollups and correlations from the stored events."""
    s = settings()
    catalog = load_configured_catalog(s)
    with engine() as eng, unit_of_work(eng) as conn:
        count = rebuild(conn, catalog)
        record_status_changes(conn, catalog, SystemClock().now())
    typer.echo(f"rebuilt health from {count} routed events")
