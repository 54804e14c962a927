"""`ct db upgrade|current`."""

from __future__ import annotations

import typer

from control_tower.cli.common import engine
from control_tower.migrate import current

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply every migration (also done on start)."""
    with engine(migrate=True) as eng:
        typer.echo(f"database at revision {current(eng)}")


@app.command("current")
def current_cmd() -> None:
    """Print the database's migration revision."""
    with engine(migrate=False) as eng:
        typer.echo(current(eng) or "(empty)")
