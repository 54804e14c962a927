"""Backup use cases: take one (export, read back, record), list, prune by tiers, prune old
events a verified backup holds, and restore into an empty store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import Engine, inspect

from control_tower.backups import repository, tiers
from control_tower.backups.destination import (
    ListedBackup,
    Location,
    default_destination,
    list_backups,
    name_time,
)
from control_tower.backups.export import write_backup
from control_tower.backups.manifest import Manifest, ManifestInvalid
from control_tower.backups.restore import load_backup
from control_tower.backups.verify import verify_backup
from control_tower.catalog.backups import BackupsSpec
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.errors import Conflict

log = structlog.get_logger(__name__)

# A folder without a manifest this old is a backup that died half-way, not one being written.
UNFINISHED_AFTER = timedelta(days=2)
# Events received this long before a snapshot began are surely in it: a PostgreSQL sequence
# hands out seqs before commit, so a transaction still open at the snapshot could commit a seq
# below the backup's largest one later. No ingest transaction lives anywhere near this long.
SNAPSHOT_MARGIN = timedelta(hours=1)
PRUNE_BATCH = 5000
_MAX_ERROR_CHARS = 1000


def destination_url(spec: BackupsSpec, data_dir: Path, override: str | None = None) -> str:
    """Where backups go: `override` (--to), the catalogue's destination, or the data dir."""
    return override or spec.destination or default_destination(data_dir)


def destination_for(spec: BackupsSpec, data_dir: Path, override: str | None = None) -> Location:
    return Location.parse(destination_url(spec, data_dir, override))


@dataclass(frozen=True)
class BackupOutcome:
    location: Location
    manifest: Manifest
    verified: bool
    problems: list[str] = field(default_factory=list)


def take_backup(
    engine: Engine,
    destination: Location | str,
    clock: Clock,
    *,
    initiator: str,
    slot_at: datetime | None = None,
) -> BackupOutcome:
    """Export the store, read the backup back against its manifest, and record the run.

    A failure is recorded (and re-raised), a destination that cannot be reached included (a
    URL whose fsspec filesystem is not installed: that fails the backup, not CT's start); a
    backup that does not read back intact is kept for inspection, recorded as failed, and
    never counts as the newest verified one.
    """
    started = clock.now()
    try:
        if isinstance(destination, str):
            destination = Location.parse(destination)
        folder, manifest = write_backup(engine, destination, started)
    except Exception as exc:
        where = destination if isinstance(destination, str) else destination.url
        with unit_of_work(engine) as conn:
            repository.record_run(
                conn, name="", location=where, initiator=initiator, slot_at=slot_at,
                status="failed", started_at=started, finished_at=clock.now(),
                error=f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS],
            )  # fmt: skip
        raise
    check = verify_backup(folder)
    with unit_of_work(engine) as conn:
        repository.record_run(
            conn,
            name=folder.name,
            location=folder.url,
            initiator=initiator,
            slot_at=slot_at,
            status="ok" if check.ok else "failed",
            started_at=started,
            finished_at=clock.now(),
            snapshot_at=manifest.created_at,
            verified_at=clock.now() if check.ok else None,
            rows=manifest.total_rows,
            bytes=manifest.total_bytes,
            events_max_seq=manifest.events.max_seq,
            error=None if check.ok else "; ".join(check.problems)[:_MAX_ERROR_CHARS],
        )
    log.info(
        "backup_written", location=folder.url, rows=manifest.total_rows, bytes=manifest.total_bytes,
        verified=check.ok, seconds=round((clock.now() - started).total_seconds(), 3),
    )  # fmt: skip
    return BackupOutcome(folder, manifest, check.ok, check.problems)


@dataclass(frozen=True)
class PruneOutcome:
    kept: dict[str, list[str]]  # backup name → the tiers that keep it
    deleted: list[str]
    left_alone: list[str]  # unreadable manifests: never deleted by a rule that cannot read them


def prune_backups(
    engine: Engine, destination: Location, spec: BackupsSpec, now: datetime
) -> PruneOutcome:
    """Delete the backups no retention tier keeps (tiers.py has the rule), and folders of
    backups that died half-way more than two days ago."""
    listed = list_backups(destination)
    complete = [b for b in listed if b.manifest is not None]
    keep = tiers.kept(complete, _taken_at, now, spec.keep, spec.parsed_schedule.tz)
    deleted = []
    for index, backup in enumerate(complete):
        if index not in keep:
            _delete(engine, backup.location, now)
            deleted.append(backup.location.name)
    for backup in listed:
        started = name_time(backup.location.name)
        if not backup.finished and started is not None and now - started > UNFINISHED_AFTER:
            _delete(engine, backup.location, now)
            deleted.append(backup.location.name)
    left_alone = [b.location.name for b in listed if b.finished and b.manifest is None]
    if left_alone:
        log.warning("backup_manifest_unreadable", backups=left_alone)
    kept = {complete[i].location.name: reasons for i, reasons in sorted(keep.items())}
    log.info("backups_pruned", deleted=deleted, kept=len(kept))
    return PruneOutcome(kept, deleted, left_alone)


def _taken_at(backup: ListedBackup) -> datetime:
    assert backup.manifest is not None
    return backup.manifest.created_at


def _delete(engine: Engine, location: Location, now: datetime) -> None:
    location.remove()
    with unit_of_work(engine) as conn:
        repository.mark_pruned(conn, location.url, now)


@dataclass(frozen=True)
class RetentionOutcome:
    pruned: int
    cutoff: datetime
    basis: str | None  # the backup whose manifest allowed it
    skipped: str | None = None


def prune_events(
    engine: Engine, spec: BackupsSpec, now: datetime, *, batch: int = PRUNE_BATCH
) -> RetentionOutcome:
    """Delete events older than the retention age that the newest verified backup holds, in
    batches of `batch`, each its own transaction. Rollups, status history and runs stay."""
    cutoff = now - timedelta(days=spec.event_retention_days)
    with unit_of_work(engine, write=False) as conn:
        run = repository.newest_verified(conn)
    if run is None:
        return _skip(cutoff, None, "no verified backup yet")
    try:
        manifest = Location.parse(run.location).read_manifest()
    except (ManifestInvalid, OSError) as exc:
        return _skip(cutoff, run.location, f"its manifest cannot be read: {exc}")
    if manifest.events.max_seq is None:
        return _skip(cutoff, run.location, "it holds no events")
    total = 0
    while True:
        with unit_of_work(engine) as conn:
            deleted = repository.delete_old_events(
                conn, occurred_before=cutoff, max_seq=manifest.events.max_seq,
                received_before=manifest.created_at - SNAPSHOT_MARGIN, limit=batch,
            )  # fmt: skip
        total += deleted
        if deleted < batch:
            break
    log.info("events_pruned", pruned=total, cutoff=cutoff.isoformat(), basis=run.location)
    return RetentionOutcome(total, cutoff, run.location)


def _skip(cutoff: datetime, basis: str | None, why: str) -> RetentionOutcome:
    log.warning("event_retention_skipped", reason=why, basis=basis)
    return RetentionOutcome(0, cutoff, basis, skipped=why)


class Migrator(Protocol):
    """What restore needs of the schema migrations (the CLI passes Alembic's)."""

    def current(self) -> str | None: ...

    def known(self, revision: str) -> bool: ...

    def upgrade(self, revision: str) -> None: ...


class SchemaMismatch(Conflict):
    code = "schema_mismatch"


@dataclass(frozen=True)
class RestoreOutcome:
    manifest: Manifest
    rows: dict[str, int]


def restore_backup(engine: Engine, folder: Location, migrator: Migrator) -> RestoreOutcome:
    """Verify the backup, build the schema at the backup's revision if the store has none,
    load every row, then upgrade the schema to this CT's head."""
    manifest = verify_backup(folder).raise_if_invalid()
    revision = manifest.schema_revision
    if not migrator.known(revision):
        raise SchemaMismatch(
            f"the backup is at schema revision {revision}, unknown to this CT "
            f"(made by a newer version?): restore with CT {manifest.ct_version} or later"
        )
    current = migrator.current()
    if current is None and not inspect(engine).get_table_names():
        migrator.upgrade(revision)
    elif current != revision:
        raise SchemaMismatch(
            f"the backup is at schema revision {revision} and the store at {current}: restore "
            "into a new, empty database without running `ct db upgrade` first, so CT builds "
            f"it at {revision}, loads the rows, then upgrades"
        )
    rows = load_backup(engine, folder, manifest)
    migrator.upgrade("head")
    return RestoreOutcome(manifest, rows)
