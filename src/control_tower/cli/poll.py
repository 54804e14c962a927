"""`ct poll list` and `ct poll run NAME`: the catalogue's pollers, by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import cli_errors, emit_json, engine, settings
from control_tower.kit.clock import SystemClock
from control_tower.pollers.service import find_poller, list_pollers, run_poller

app = typer.Typer(help="Pollers: HTTP checks and GitHub Actions.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List the catalogue's pollers with their last state."""
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        with engine() as eng:
            rows = list_pollers(eng, catalog)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no pollers in the catalogue")
        return
    for row in rows:
        state = row["status"] or "never run"
        typer.echo(
            f"{row['name']:<20} {row['kind']:<15} system={row['system']:<10} "
            f"every {row['interval_seconds']}s  {state}"
            + (f" ({row['detail']})" if row["detail"] else "")
        )


@app.command("run")
def run_command(name: str) -> None:
    """Run one poller now (outside the schedule) and print its outcome as JSON.

    Exit code 1 when the poll failed.
    """
    clock = SystemClock()
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        poller = find_poller(catalog, name)
        with engine() as eng:
            # A manual run is its own slot: the current second.
            slot = clock.now().replace(microsecond=0)
            outcome = run_poller(eng, catalog, poller, slot=slot, clock=clock)
    emit_json(outcome.as_dict())
    if outcome.status == "failed":
        raise typer.Exit(1)
