"""`ct dashboards`: the dashboards spec, and Grafana dashboards built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from control_tower.dashboards.grafana import export
from control_tower.dashboards.spec import load_spec

app = typer.Typer(help="The dashboards spec and its Grafana export.", no_args_is_help=True)


@app.command("export")
def export_grafana(
    grafana: Annotated[
        Path, typer.Option("--grafana", help="Folder for one Grafana dashboard JSON each.")
    ],
    base_url: Annotated[
        str, typer.Option("--base-url", help="CT's address, for the links back to its pages.")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Write one Grafana dashboard (JSON model, Prometheus data source) per dashboard."""
    for path in export(load_spec(), grafana, base_url):
        typer.echo(f"wrote {path}")


@app.command("list")
def list_dashboards() -> None:
    """The dashboards, their pages and panels."""
    for dashboard in load_spec().dashboards:
        typer.echo(f"{dashboard.id:<12} {dashboard.path:<16} {dashboard.title}")
        for panel in dashboard.panels:
            typer.echo(f"  {panel.id:<14} {panel.kind:<12} {panel.query}")
