"""`ct backup [--to URL]`, `ct backup list`, `ct backup verify PATH` and `ct restore PATH`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from control_tower.audit import chain
from control_tower.backups import repository, service, tiers
from control_tower.backups.destination import Location, backup_location, list_backups
from control_tower.backups.verify import verify_backup
from control_tower.catalog import load_configured_catalog
from control_tower.catalog.backups import BackupsSpec
from control_tower.cli.common import CLI_ACTOR, cli_errors, emit_json, engine, settings
from control_tower.db import unit_of_work
from control_tower.kit.clock import SystemClock
from control_tower.migrate import alembic_config, current, upgrade

app = typer.Typer(
    help="Backups: `ct backup [--to URL]` takes one now (verified after writing); `list` "
    "shows them, `verify PATH` checks one; `ct restore PATH` loads one into an empty store.",
    invoke_without_command=True,
)

PathArgument = Annotated[
    str, typer.Argument(help="A backup's folder (or its manifest.json): a path or an fsspec URL.")
]


@contextmanager
def _destination_errors() -> Iterator[None]:
    """A destination that cannot be reached is one line on stderr, not a traceback."""
    with cli_errors():
        try:
            yield
        except (OSError, ValueError, ImportError) as exc:
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(1) from exc


def _destination(override: str | None) -> tuple[Location, BackupsSpec]:
    s = settings()
    spec = load_configured_catalog(s.catalog).backups
    return service.destination_for(spec, s.data_dir, override), spec


def _local(instant: datetime, spec: BackupsSpec) -> str:
    zone = spec.parsed_schedule.tz
    return (
        f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
        f"({instant.astimezone(zone):%Y-%m-%d %H:%M %Z})"
    )


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.1f} kB"


@app.callback()
def backup(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Write here (a folder or fsspec URL) instead of the catalogue's place."
        ),
    ] = None,
) -> None:
    """Take a backup now: every table, streamed to compressed JSON Lines with a manifest, then
    read back and checked against it."""
    if ctx.invoked_subcommand is not None:
        return
    with _destination_errors():
        s = settings()
        where = service.destination_url(load_configured_catalog(s.catalog).backups, s.data_dir, to)
        with engine() as eng:
            outcome = service.take_backup(eng, where, SystemClock(), initiator=CLI_ACTOR)
    manifest = outcome.manifest
    typer.echo(f"backup written: {outcome.location.url}")
    typer.echo(
        f"  {manifest.total_rows} rows in {len(manifest.tables)} tables, "
        f"{_size(manifest.total_bytes)}; audit head {manifest.audit_head.last_seq}"
    )
    if not outcome.verified:
        typer.echo("backup did NOT read back intact: " + "; ".join(outcome.problems), err=True)
        raise typer.Exit(1)
    typer.echo("  read back and verified against its manifest")


def _last_success() -> tuple[repository.BackupRun | None, str | None]:
    """The store's record of its last successful backup. Listing works without the store
    (it may be the thing that broke), so a store that cannot be read is only mentioned."""
    try:
        with engine(migrate=False) as eng, unit_of_work(eng, write=False) as conn:
            return repository.last_run(conn, status="ok"), None
    except SQLAlchemyError as exc:
        return None, type(exc).__name__


@app.command("list")
def list_command(
    at: Annotated[
        str | None, typer.Option("--at", help="List this destination instead of the catalogue's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the backups at the destination, oldest first, with the tiers that keep each."""
    now = SystemClock().now()
    with _destination_errors():
        destination, spec = _destination(at)
        listed = list_backups(destination)
        last_ok, store_problem = _last_success()
    complete = [b for b in listed if b.manifest is not None]
    keep = tiers.kept(
        complete, lambda b: b.manifest.created_at if b.manifest else now, now, spec.keep,
        spec.parsed_schedule.tz,
    )  # fmt: skip
    reasons = {complete[i].location.name: r for i, r in keep.items()}
    if as_json:
        emit_json(
            {
                "destination": destination.url,
                "backups": [
                    {
                        "name": b.location.name,
                        "location": b.location.url,
                        "manifest": b.manifest.model_dump(mode="json") if b.manifest else None,
                        "problem": b.problem,
                        "kept_by": reasons.get(b.location.name, []),
                    }
                    for b in listed
                ],
                "last_successful_backup_at": last_ok.finished_at.isoformat() if last_ok else None,
            }
        )
        return
    typer.echo(f"destination: {destination.url}")
    if store_problem is not None:
        typer.echo(f"last successful backup: unknown, the store cannot be read ({store_problem})")
    elif last_ok is None:
        typer.echo("last successful backup: none recorded in this store")
    else:
        hours = (now - last_ok.finished_at).total_seconds() / 3600
        when = _local(last_ok.finished_at, spec)
        typer.echo(f"last successful backup: {when}, {hours:.1f} h ago")
    if not listed:
        typer.echo("no backups")
    for b in listed:
        if b.manifest is None:
            typer.echo(f"{b.location.name:<26} {b.problem}")
            continue
        m = b.manifest
        kept_by = ", ".join(reasons.get(b.location.name, [])) or "due for deletion"
        typer.echo(
            f"{b.location.name:<26} {_local(m.created_at, spec)}  {m.total_rows} rows  "
            f"{_size(m.total_bytes)}  events ≤ seq {m.events.max_seq}  kept: {kept_by}"
        )


@app.command("verify")
def verify_command(path: PathArgument) -> None:
    """Check every file's sha256 and row count against the manifest, and the audit chain
    inside the backup; exit code 1 when anything differs."""
    with _destination_errors():
        result = verify_backup(backup_location(path))
    for check in result.tables:
        mark = "ok " if check.problem is None else "BAD"
        typer.echo(f"{mark} {check.name:<28} {check.rows} rows")
    if not result.ok:
        typer.echo(f"backup {result.location.url} is NOT intact:", err=True)
        for problem in result.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    assert result.manifest is not None
    head = result.manifest.audit_head
    typer.echo(
        f"backup intact: {result.manifest.total_rows} rows, audit chain of {head.last_seq} rows "
        f"ending {head.last_hash[:16]}…"
    )


class AlembicMigrator:
    def __init__(self, eng: Engine) -> None:
        self._engine = eng
        self._scripts = ScriptDirectory.from_config(alembic_config())

    def current(self) -> str | None:
        return current(self._engine)

    def known(self, revision: str) -> bool:
        try:
            return self._scripts.get_revision(revision) is not None
        except CommandError:
            return False

    def upgrade(self, revision: str) -> None:
        upgrade(self._engine, revision)


def restore(path: PathArgument) -> None:
    """Restore a backup into an EMPTY store (CT_DATABASE_URL): verified first, loaded in one
    transaction, then the schema upgraded and the audit chain verified."""
    folder = backup_location(path)
    with _destination_errors(), engine(migrate=False) as eng:
        outcome = service.restore_backup(eng, folder, AlembicMigrator(eng))
        with unit_of_work(eng, write=False) as conn:
            audit = chain.verify(conn)
    total = sum(outcome.rows.values())
    typer.echo(f"restored {folder.url}: {total} rows in {len(outcome.rows)} tables")
    for name, rows in outcome.rows.items():
        typer.echo(f"  {name:<28} {rows}")
    typer.echo(f"audit chain intact: {audit.rows} rows")
    typer.echo(
        "next: `ct audit verify`, then start CT and check `ct jobs list` and GET /health "
        "(docs/backups.md, restore runbook)"
    )
