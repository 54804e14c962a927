"""`ct catalog validate FILE`."""

from __future__ import annotations

from pathlib import Path

import typer

from control_tower.catalog import CatalogError, load_catalog

app = typer.Typer(help="The YAML catalogue.", no_args_is_help=True)


@app.command("validate")
def validate(path: Path) -> None:
    """Check a catalogue file and print every problem with its path and line."""
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        typer.echo(f"{len(exc.problems)} problem(s)", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{path}: ok ({len(catalog.sources)} sources, {len(catalog.systems)} systems, "
        f"{len(catalog.event_types)} event types)"
    )
