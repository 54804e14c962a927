"""`ct worker` (the router and the run worker in a process of their own) and `ct rebuild`."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from prometheus_client import start_http_server

from control_tower.app import build_router_loop
from control_tower.background import background_loops
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import engine, settings
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.health.service import rebuild, record_status_changes
from control_tower.kit.clock import SystemClock
from control_tower.kit.loops import BackgroundLoops, Loop
from control_tower.observability.logging import configure_logging
from control_tower.reports import rollups as reports_rollups
from control_tower.routing.loop import RouterLoop


def worker(
    name: Annotated[str | None, typer.Option("--name", help="Router name in leases.")] = None,
    run_worker: Annotated[
        bool, typer.Option("--run-worker/--no-run-worker", help="Also run the run worker.")
    ] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve this process's metrics on 127.0.0.1:PORT."),
    ] = None,
) -> None:
    """Run the event router and the run worker until SIGTERM/SIGINT (scale-out on PostgreSQL)."""
    s = settings()
    configure_logging(s.log_level, s.log_json)
    with engine() as eng:
        ctx = AppContext.build(s, eng, load_configured_catalog(s.catalog), SystemClock())
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
            start_http_server(metrics_port, addr="127.0.0.1", registry=ctx.metrics.registry)
        asyncio.run(_run_loops(build_router_loop(ctx, name), background))


async def _run_loops(router: RouterLoop, background: list[Loop]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await router.start()
    others = BackgroundLoops(background)
    others.start()
    typer.echo(f"worker running {1 + len(background)} loop(s); Ctrl-C to stop", err=True)
    await stop.wait()
    await others.stop()
    await router.stop()


def rebuild_cmd() -> None:
    """Recompute health rollups, correlations and report counters from the stored events."""
    s = settings()
    catalog = load_configured_catalog(s.catalog)
    with engine() as eng, unit_of_work(eng) as conn:
        count = rebuild(conn, catalog, parts=[reports_rollups.REBUILD])
        record_status_changes(conn, catalog, SystemClock().now())
    typer.echo(f"rebuilt health from {count} routed events")
