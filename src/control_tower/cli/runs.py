"""`ct trigger` and `ct runs list|show|cancel|note|target-secret|drain`.

They work on the configured store directly (no API server needed), as initiator "cli" with
the owner's rights: whoever can run the CLI can already read the store and the master key.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer

from control_tower.auth.roles import Role
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, now, settings
from control_tower.db import unit_of_work
from control_tower.kit.clock import SystemClock
from control_tower.kit.errors import BadRequest
from control_tower.runs import service
from control_tower.runs.repository import RunFilter
from control_tower.runs.schemas import FINISHED, RunStatus
from control_tower.runs.target import target_secret
from control_tower.runs.tasks import build_run_worker

app = typer.Typer(help="Runs of triggers: list, show, cancel, annotate.", no_args_is_help=True)

CLI_CALLER = service.Caller(CLI_ACTOR, Role.owner)


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"--input takes key=value, got {pair!r}")
        inputs[key.strip()] = value
    return inputs


def trigger(
    name: Annotated[str, typer.Argument(help="Trigger name from the catalogue.")],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as key=value; repeat.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check inputs and guards; show the call.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the run ends (needs a worker running).")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 300.0,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
) -> None:
    """Run an allowed trigger against the local store (initiator "cli")."""
    s = settings()
    with cli_errors():
        values = _parse_inputs(inputs or [])
        catalog = load_configured_catalog(s.catalog)
        with engine() as eng:
            if dry_run:
                with unit_of_work(eng, write=False) as conn:
                    result = service.dry_run(
                        conn,
                        catalog,
                        name,
                        values,
                        caller=CLI_CALLER,
                        now=now(),
                        base_url=s.trigger_target_base_url,
                    )
                emit_json(result.model_dump(mode="json"))
                return
            with unit_of_work(eng) as conn:
                accepted = service.start_run(
                    conn,
                    catalog,
                    name,
                    values,
                    caller=CLI_CALLER,
                    now=now(),
                    idempotency_key=idempotency_key,
                )
            emit_json(accepted.model_dump(mode="json"))
            if wait:
                _wait_for(eng, accepted.run_id, timeout)


def _wait_for(eng: Any, run_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with unit_of_work(eng, write=False) as conn:
            run = service.get_run(conn, run_id)
        if run.status in FINISHED:
            typer.echo(f"run {run_id} {run.status.value} after {run.attempts} attempt(s)")
            if run.status is not RunStatus.success:
                raise typer.Exit(1)
            return
        if time.monotonic() > deadline:
            typer.echo(f"run {run_id} still {run.status.value} after {timeout:g} s", err=True)
            raise typer.Exit(2)
        time.sleep(0.5)


@app.command("list")
def list_runs(
    trigger_name: Annotated[str | None, typer.Option("--trigger")] = None,
    status: Annotated[RunStatus | None, typer.Option("--status")] = None,
    initiator: Annotated[str | None, typer.Option("--initiator")] = None,
    since: Annotated[datetime | None, typer.Option("--since", help="ISO time, UTC.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    since_at = since.replace(tzinfo=since.tzinfo or now().tzinfo) if since else None
    flt = RunFilter(trigger_name, status.value if status else None, initiator, since_at)
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        page = service.list_runs(conn, flt, limit, None)
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    for run in page.items:
        typer.echo(
            f"{run.run_id}  {run.trigger:<26} {run.status.value:<9} "
            f"{run.initiator:<16} {run.created_at.isoformat()}"
        )


@app.command("show")
def show(run_id: str) -> None:
    """One run with transitions, metrics, notes and correlated events (JSON)."""
    with cli_errors(), engine() as eng, unit_of_work(eng, write=False) as conn:
        run = service.get_run(conn, run_id)
    emit_json(run.model_dump(mode="json"))


@app.command("cancel")
def cancel(run_id: str) -> None:
    """Cancel a queued or running run."""
    s = settings()
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        result = service.cancel_run(
            conn, load_configured_catalog(s.catalog), run_id, actor=CLI_ACTOR, now=now()
        )
    emit_json(result.model_dump(mode="json"))


@app.command("note")
def note(run_id: str, text: str) -> None:
    """Append a note to a run."""
    with cli_errors(), engine() as eng, unit_of_work(eng) as conn:
        added = service.add_note(conn, run_id, text, author=CLI_ACTOR, now=now())
    emit_json(added.model_dump(mode="json"))


@app.command("target-secret")
def show_target_secret(system: str) -> None:
    """Print the secret a target system uses to verify CT's X-CT-Signature."""
    s = settings()
    typer.echo(target_secret(s.master_key(), system))


@app.command("drain")
def drain() -> None:
    """Work through every due run (the run worker alone, no API, no router), then exit."""
    s = settings()
    with engine() as eng:
        run_worker = build_run_worker(
            s, eng, load_configured_catalog(s.catalog), SystemClock(), s.master_key()
        )
        try:
            steps = run_worker.run_until_idle()
        finally:
            run_worker.client.close()
    typer.echo(f"{len(steps)} step(s)")
