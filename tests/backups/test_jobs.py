"""The backup jobs on the scheduler: `backups:nightly` at 02:30 London (a verified backup, then
tier pruning; once per slot) and `backups:retention` at 03:30."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from control_tower.app import scheduled_jobs
from control_tower.backups.tasks import backup_jobs
from control_tower.catalog import Catalog
from control_tower.kit.clock import FrozenClock
from control_tower.models import backup_runs
from control_tower.scheduler import JobRegistry, Scheduler, Slot


def test_the_backup_jobs_are_scheduled(
    engine: Engine, catalog: Catalog, clock: FrozenClock, tmp_path: Path
) -> None:
    jobs = {job.name: job for job in scheduled_jobs(engine, catalog, clock, data_dir=tmp_path)}
    assert jobs["backups:nightly"].schedule.describe() == "daily at 02:30 Europe/London"
    assert jobs["backups:retention"].schedule.describe() == "daily at 03:30 Europe/London"


def test_the_nightly_job_backs_up_once_per_slot(
    engine: Engine, catalog: Catalog, clock: FrozenClock, tmp_path: Path
) -> None:
    jobs = backup_jobs(engine, catalog, clock, tmp_path / "data")
    nightly = jobs[0]
    slot = nightly.schedule.next_after(clock.now())
    clock.set(slot + timedelta(minutes=1))
    scheduler = Scheduler(engine, clock, registry=JobRegistry(jobs))
    try:
        runs = {run.name: run for run in scheduler.run_due()}
    finally:
        scheduler.close()
    assert runs["backups:nightly"].status == "ok", runs
    assert runs["backups:retention"].status == "ok", runs
    nightly.run(Slot(slot))  # the same slot again: a retry, a second leader for a moment
    folders = list((tmp_path / "data" / "backups").iterdir())
    assert len(folders) == 1
    with engine.connect() as conn:
        recorded = conn.execute(select(backup_runs.c.slot_at, backup_runs.c.status)).all()
    assert [(r.slot_at, r.status) for r in recorded] == [(slot, "ok")]
