"""Backups on the scheduler: `backups:nightly` (a verified backup, then tier pruning) and
`backups:retention` (old events a verified backup holds); and the health objective."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from control_tower.backups import repository, service
from control_tower.backups.destination import Location
from control_tower.backups.health import OBJECTIVE, backup_reasons
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health.objectives import ObjectiveRegistry
from control_tower.kit.clock import Clock
from control_tower.scheduler import Job, Slot

SCHEDULER_ACTOR = "scheduler"


def backup_jobs(engine: Engine, catalog: Catalog, clock: Clock, data_dir: Path) -> list[Job]:
    spec = catalog.backups
    # Resolved when the job runs: a destination that cannot be reached fails the backup (which
    # is recorded and turns CT red), never CT's start.
    destination = service.destination_url(spec, data_dir)

    def nightly(slot: Slot) -> None:
        # Keyed by the slot: a slot whose backup already succeeded is not backed up again.
        with unit_of_work(engine, write=False) as conn:
            done = repository.ok_for_slot(conn, slot.at)
        if not done:
            outcome = service.take_backup(
                engine, destination, clock, initiator=SCHEDULER_ACTOR, slot_at=slot.at
            )
            if not outcome.verified:  # recorded as failed; the job fails, nothing is pruned
                raise RuntimeError(
                    f"backup {outcome.location.url} did not read back intact: "
                    + "; ".join(outcome.problems)
                )
        service.prune_backups(engine, Location.parse(destination), spec, clock.now())

    def retention(_slot: Slot) -> None:
        service.prune_events(engine, spec, clock.now())

    return [
        Job("backups:nightly", spec.parsed_schedule, nightly),
        Job("backups:retention", spec.parsed_retention_schedule, retention),
    ]


def register_backup_objective(objectives: ObjectiveRegistry, catalog: Catalog) -> None:
    objectives.add(OBJECTIVE, backup_reasons(catalog.backups))
