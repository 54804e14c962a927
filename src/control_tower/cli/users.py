"""`ct users grant|revoke|signout-everywhere|list`: what CT decides about staff who sign in
with Firebase (docs/auth.md). Every change is in the audit chain."""

from __future__ import annotations

from typing import Annotated

import typer

from control_tower.auth import users
from control_tower.auth.roles import Role
from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, now
from control_tower.db import unit_of_work

app = typer.Typer(
    help="Grant staff roles to Firebase users, revoke them, sign them out everywhere.",
    no_args_is_help=True,
)


@app.command("grant")
def grant(
    email: str,
    role: Annotated[Role, typer.Argument(help="viewer|operator|maintainer|owner")],
) -> None:
    """Give EMAIL a staff role (it wins over a Firebase custom claim) and lift a revocation."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        users.grant(conn, email=email, role=role, now=now(), actor=CLI_ACTOR)
    typer.echo(f"granted {role.value} to {users.normalise_email(email)}")


@app.command("revoke")
def revoke(email: str) -> None:
    """Refuse EMAIL from now on, whatever its Firebase claims say; ends its UI sessions."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        users.revoke(conn, email=email, now=now(), actor=CLI_ACTOR)
    typer.echo(f"revoked {users.normalise_email(email)}")


@app.command("signout-everywhere")
def signout_everywhere(email: str) -> None:
    """Refuse every ID token EMAIL got before now and end its UI sessions; signing in again
    works."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        users.sign_out_everywhere(conn, email=email, now=now(), actor=CLI_ACTOR)
    typer.echo(f"signed {users.normalise_email(email)} out everywhere")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Users CT has a say about: role, revoked, signed out since."""
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        rows = users.list_users(conn)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else (row["role"] or "claim")
        since = f" signed out {row['not_before']:%Y-%m-%d %H:%M}" if row["not_before"] else ""
        typer.echo(f"{row['email']:<40} {state}{since}")
