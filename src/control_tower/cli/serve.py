"""`ct serve`: the API (and, in later issues, the router, worker and scheduler) in one process."""

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
        int, typer.Option("--workers", min=1, help="Processes; use >1 only on PostgreSQL.")
    ] = 1,
) -> None:
    """Serve CT on http://HOST:PORT (migrates the store first)."""
    s = settings()
    configure_logging(s.log_level, s.log_json)
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
