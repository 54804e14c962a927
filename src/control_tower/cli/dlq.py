"""`ct dlq list|replay`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, now
from control_tower.db import unit_of_work
from control_tower.routing import dlq

app = typer.Typer(
    help="The dead-letter queue of events the router gave up on.", no_args_is_help=True
)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@app.command("list")
def list_(
    since: Annotated[
        datetime | None, typer.Option("--since", help="Died at or after (UTC).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List dead events, newest first."""
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        page = dlq.list_dead(conn, limit, None, _aware(since))
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    typer.echo(f"DLQ depth: {page.depth}")
    for item in page.items:
        typer.echo(
            f"{item.event_id:<40} {item.type:<28} attempts={item.attempts} {item.last_error}"
        )


@app.command("replay")
def replay(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids to replay.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead event.")] = False,
    since: Annotated[
        datetime | None, typer.Option("--since", help="With --all: died at or after.")
    ] = None,
) -> None:
    """Send dead events back to the router (audited)."""
    if not event_ids and not all_:
        typer.echo("name event ids or pass --all", err=True)
        raise typer.Exit(2)
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        ids = list(event_ids or []) if not all_ else dlq.dead_ids(conn, _aware(since))
        result = dlq.replay(conn, ids, actor=CLI_ACTOR, now=now())
    typer.echo(f"replayed {len(result.replayed)} event(s)")
