"""`ct token create|list|revoke|rotate`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, now, settings
from control_tower.db import unit_of_work
from control_tower.kit.durations import parse_duration

app = typer.Typer(help="Create, list, revoke and rotate service tokens.", no_args_is_help=True)


def _print_issued(issued: tokens.IssuedToken, as_json: bool) -> None:
    if as_json:
        emit_json(issued.as_dict())
        return
    typer.echo(f"token ({issued.role.value}) {issued.name}: {issued.token}")
    if issued.hmac_secret:
        typer.echo(f"signing secret for source {issued.source}: {issued.hmac_secret}")
    typer.echo("These are shown once; CT keeps only a hash.")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Unique token name.")],
    role: Annotated[Role, typer.Option("--role", help="owner|maintainer|operator|viewer|producer")],
    source: Annotated[str | None, typer.Option("--source", help="Producer's source.")] = None,
    expires: Annotated[
        datetime | None, typer.Option("--expires", help="Expiry (ISO date/time, UTC).")
    ] = None,
    rate_per_minute: Annotated[int | None, typer.Option("--rate-per-minute", min=1)] = None,
    burst: Annotated[int | None, typer.Option("--burst", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a token and print it once (with the signing secret for producers)."""
    s = settings()
    expires_at = expires.replace(tzinfo=expires.tzinfo or now().tzinfo) if expires else None
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        issued = tokens.create_token(
            conn,
            name=name,
            role=role,
            source=source,
            now=now(),
            master_key=s.master_key(),
            known_sources=load_configured_catalog(s.catalog).source_ids(),
            actor=CLI_ACTOR,
            expires_at=expires_at,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
    _print_issued(issued, as_json)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never their secrets), with the age of each one's token and secret."""
    max_age = settings().token_max_age_days
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        rows = tokens.list_tokens(conn, now())
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        age = f"{row['age_days']}d"
        if not row["revoked_at"] and row["age_days"] > max_age:
            age += f" (over {max_age}d: rotate)"
        if row["previous_valid_until"] is not None:
            state += f", old one works until {row['previous_valid_until']:%Y-%m-%d %H:%M} UTC"
        typer.echo(
            f"{row['name']:<24} {row['role']:<11} {row['source'] or '-':<9} {age:<8} {state}"
        )


@app.command("revoke")
def revoke(name: str) -> None:
    """Revoke a token by name."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        tokens.revoke_token(conn, name=name, now=now(), actor=CLI_ACTOR)
    typer.echo(f"revoked {name}")


@app.command("rotate")
def rotate(
    name: str,
    overlap: Annotated[
        str,
        typer.Option(
            "--overlap",
            help="How long the old token and signing secret keep working (e.g. 7d, 12h); "
            "default 0: they stop now.",
        ),
    ] = "0s",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a new token (and signing secret) for a name; the old ones stop working now, or
    when the overlap ends."""
    s = settings()
    try:
        window = parse_duration(overlap)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--overlap") from exc
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        issued = tokens.rotate_token(
            conn, name=name, now=now(), master_key=s.master_key(), actor=CLI_ACTOR, overlap=window
        )
    _print_issued(issued, as_json)
    if window and not as_json:
        typer.echo(f"The old token and signing secret keep working for {overlap}.")
