"""`ct alerts list|ack|silence|unsilence|silences`.

They work on the configured store directly, as actor "cli" (audited like the API's doors).
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from control_tower.alerts import service
from control_tower.alerts.schemas import AlertStateName, SilenceIn
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, now, settings
from control_tower.db import unit_of_work
from control_tower.kit.errors import Unprocessable

app = typer.Typer(help="Alerts: list, acknowledge, silence.", no_args_is_help=True)


@app.command("list")
def list_(
    state: Annotated[
        AlertStateName | None,
        typer.Option("--state", help="firing, acknowledged or resolved."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List alerts, newest first."""
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        with engine() as eng, unit_of_work(eng, write=False) as conn:
            page = service.list_alerts(
                conn, catalog, state=state, rule=None, limit=limit, cursor=None, now=now()
            )
    if as_json:
        emit_json(page.model_dump(mode="json")["items"])
        return
    for alert in page.items:
        silenced = f" silenced by {alert.silenced_by}" if alert.silenced_by else ""
        typer.echo(
            f"{alert.id:>6} {alert.state:<12} {alert.severity:<8} {alert.rule:<24} "
            f"{alert.started_at.isoformat()} {alert.summary}{silenced}"
        )


@app.command("ack")
def ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (ct alerts list).")],
    comment: Annotated[str | None, typer.Option("--comment", help="Why, or who is on it.")] = None,
) -> None:
    """Acknowledge a firing alert: no more reminders (audited, actor "cli")."""
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        with engine() as eng, unit_of_work(eng) as conn:
            alert = service.acknowledge(
                conn, catalog, alert_id, actor=CLI_ACTOR, comment=comment, now=now()
            )
    typer.echo(f"acknowledged alert {alert.id} ({alert.rule})")


@app.command("silence")
def silence(
    comment: Annotated[str, typer.Option("--comment", help="Why (required).")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d…")],
    rule: Annotated[str | None, typer.Option("--rule", help="Silence this rule's alerts.")] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="Silence alerts about this system.")
    ] = None,
) -> None:
    """Silence alerts by rule and/or system for a while (audited, actor "cli")."""
    with cli_errors():
        try:
            request = SilenceIn(rule=rule, system=system, duration=duration, comment=comment)
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise Unprocessable(f"invalid silence: {problems}") from exc
        catalog = load_configured_catalog(settings().catalog)
        with engine() as eng, unit_of_work(eng) as conn:
            created = service.create_silence(conn, catalog, request, actor=CLI_ACTOR, now=now())
    typer.echo(f"silence {created.id} until {created.ends_at.isoformat()}")


@app.command("unsilence")
def unsilence(silence_id: Annotated[int, typer.Argument(help="The silence's id.")]) -> None:
    """End a silence now (audited, actor "cli")."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        service.delete_silence(conn, silence_id, actor=CLI_ACTOR, now=now())
    typer.echo(f"silence {silence_id} ended")


@app.command("silences")
def silences(
    include_ended: Annotated[
        bool, typer.Option("--all", help="Also expired and deleted silences.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List silences in force or still to start (newest first)."""
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        found = service.list_silences(conn, now=now(), include_ended=include_ended)
    if as_json:
        emit_json(found.model_dump(mode="json")["items"])
        return
    for item in found.items:
        typer.echo(
            f"{item.id:>6} {item.state:<8} rule={item.rule or '*'} system={item.system or '*'} "
            f"until {item.ends_at.isoformat()} by {item.created_by}: {item.comment}"
        )
