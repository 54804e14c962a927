"""`ct audit verify`."""

from __future__ import annotations

import typer

from control_tower.audit import chain
from control_tower.cli.common import engine
from control_tower.db import unit_of_work

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
def verify() -> None:
    """Check the whole hash chain; name the first broken row."""
    with engine() as eng, unit_of_work(eng, write=False) as conn:
        result = chain.verify(conn)
    if result.ok:
        typer.echo(f"audit chain intact: {result.rows} rows")
        return
    where = f"row {result.first_bad_seq}" if result.first_bad_seq else "head"
    typer.echo(f"audit chain BROKEN at {where}: {result.problem}", err=True)
    raise typer.Exit(1)
