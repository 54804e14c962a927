"""`ct serve`: one process — the API, the router, the scheduler and the run worker."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from control_tower.cli.common import settings
from control_tower.observability.logging import configure_logging


def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes (PostgreSQL only); each routes unless CT_ROUTER_ENABLED=false.",
        ),
    ] = 1,
) -> None:
    """Serve CT on http://HOST:PORT (migrates the store first)."""
    s = settings()
    configure_logging(s.log_level, s.log_json)
    if workers > 1 and not s.resolved_database_url().startswith("postgresql"):
        raise typer.BadParameter("several workers need PostgreSQL (SQLite is one process)")
    uvicorn.run(
        "control_tower.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        # uvicorn believes X-Forwarded-* from 127.0.0.1 by default, which let any local
        # process (or a proxy's client, through it) choose its own address for rate limits.
        proxy_headers=bool(s.trusted_proxies),
        forwarded_allow_ips=s.trusted_proxies or None,
        timeout_graceful_shutdown=10,
    )
