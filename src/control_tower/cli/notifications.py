"""`ct notifications list|test`: the delivery outbox from the command line."""

from __future__ import annotations

import uuid
from typing import Annotated, get_args

import typer

from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import cli_errors, emit_json, engine, now, settings
from control_tower.db import unit_of_work
from control_tower.kit.errors import BadRequest
from control_tower.models.notify import NotificationStatus
from control_tower.notify import service
from control_tower.notify.repository import NotificationFilter

app = typer.Typer(
    help="The notification outbox: deliveries and their attempts, a test message.",
    no_args_is_help=True,
)

STATUSES = get_args(NotificationStatus)


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {'|'.join(STATUSES)}.")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List notifications, newest first, with their attempts."""
    with cli_errors():
        if status is not None and status not in STATUSES:
            raise BadRequest(f"--status must be one of {', '.join(STATUSES)}")
        flt = NotificationFilter(status=status, channel=channel)
        with engine() as eng, unit_of_work(eng, write=False) as conn:
            page = service.list_notifications(conn, flt, limit, None)
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    for item in page.items:
        typer.echo(
            f"{item.id:>6} {item.created_at:%Y-%m-%d %H:%M:%S} {item.channel:<16} "
            f"{item.kind:<7} {item.status:<7} attempts={item.attempts} {item.title}"
        )
        if item.status in ("failed", "dead") and item.last_error:
            typer.echo(f"{'':>6} last error: {item.last_error}")


@app.command("test")
def test(
    channel: Annotated[str, typer.Argument(help="Channel name from the catalogue.")],
) -> None:
    """Queue a test message on a channel; the delivery worker sends it."""
    s = settings()
    with cli_errors():
        catalog = load_configured_catalog(s.catalog)
        at = now()
        key = f"test:{at.isoformat()}:{uuid.uuid4().hex[:8]}"
        message = service.Message(
            kind="test",
            title="Control Tower test notification",
            text=f"A test message queued with `ct notifications test {channel}` at "
            f"{at:%Y-%m-%d %H:%M:%S} UTC. If you can read this, the channel works.",
            severity="info",
        )
        with engine() as eng, unit_of_work(eng) as conn:
            service.enqueue(conn, catalog, channel, message, now=at, key=key)
    typer.echo(f"queued a test message on {channel} (key {key}); see `ct notifications list`")
