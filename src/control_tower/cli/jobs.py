"""`ct jobs list`: the scheduler's jobs, their schedules, last and next slots, last outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from control_tower.app import scheduled_jobs
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import cli_errors, emit_json, engine, settings
from control_tower.kit.clock import SystemClock
from control_tower.scheduler import JobStatus, list_jobs

app = typer.Typer(help="Scheduled jobs: pollers and other periodic work.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List the jobs `ct serve` schedules, with their last and next slots (local and UTC)."""
    clock = SystemClock()
    with cli_errors():
        configured = settings()
        catalog = load_configured_catalog(configured.catalog)
        with engine() as eng:
            # The jobs `ct serve` schedules; nothing is started or run.
            registry = scheduled_jobs(
                eng, catalog, clock, data_dir=configured.data_dir, public_url=configured.public_url
            )
            statuses = list_jobs(eng, registry, clock.now())
    if as_json:
        emit_json([status.as_dict() for status in statuses])
        return
    if not statuses:
        typer.echo("no scheduled jobs")
        return
    for status in statuses:
        typer.echo(format_job(status))


def format_job(status: JobStatus) -> str:
    """A job as `ct jobs list` prints it: a title line, its last and next slot, any error."""
    title = f"{status.name:<28} {status.schedule.describe()}"
    if status.catch_up:
        title += "  (catches up missed slots)"
    if status.last_slot_at is None:
        last = "never run"
    else:
        outcome = status.last_status or "unknown"
        late = ", late" if status.last_late else ""
        runs = f"{status.runs} run" + ("" if status.runs == 1 else "s")
        last = f"{_when(status, status.last_slot_at)}  {outcome}{late}, {runs}"
    lines = [title, f"  last slot  {last}"]
    if status.due:  # the slot that has not run yet, which the leader runs at its next tick
        lines.append(f"  due now    {_when(status, status.current_slot_at)}")
    lines.append(f"  next slot  {_when(status, status.next_slot_at)}")
    if status.last_error:
        lines.append(f"  last error {status.last_error}")
    return "\n".join(lines)


def _when(status: JobStatus, instant: datetime) -> str:
    """`instant` in the schedule's zone, and in UTC when that zone is not UTC."""
    local = instant.astimezone(status.schedule.tz)
    shown = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    if status.schedule.tz.key != "UTC":
        shown += f" ({instant.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC)"
    return shown
