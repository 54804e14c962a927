"""The report jobs: `reports:digest` (the previous day, on the catalogue's daily schedule) and
`reports:weekly` (the last complete ISO week, on its weekly schedule).

Both catch up: after downtime every missed slot's report is made and archived, oldest first;
only the current slot's is delivered, and the others are recorded as late (the scheduler's
`Slot.late`, kept with the archive). A slot run twice makes the same report (archived once)
and queues nothing new (notify's key per period and channel).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.reports import service
from control_tower.reports.links import Links
from control_tower.reports.periods import local_date, week_name
from control_tower.reports.schemas import ReportKind
from control_tower.scheduler import Job, Slot

log = structlog.get_logger(__name__)


def period_for_slot(catalog: Catalog, kind: ReportKind, slot: Slot) -> str:
    """The day before the slot's date, or the last ISO week that ended before it."""
    today = local_date(slot.at, catalog.reports.tz)
    if kind == "daily":
        return (today - timedelta(days=1)).isoformat()
    return week_name(today - timedelta(days=today.weekday() + 7))


def make_report(
    engine: Engine,
    catalog: Catalog,
    kind: ReportKind,
    period: str,
    *,
    links: Links,
    data_dir: Path,
    now: datetime,
    late: bool = False,
    send: bool = True,
) -> tuple[service.Made, list[str]]:
    """What the jobs and `ct digest`/`ct weekly` do: make the report in a read transaction,
    then archive it (and queue it on its channels) in a short write transaction, so a SQLite
    store's writers never wait for a report being made."""
    with unit_of_work(engine, write=False) as conn:
        made = service.render(conn, catalog, kind, period, links=links, now=now)
    with unit_of_work(engine) as conn:
        kept = service.keep(conn, made, data_dir=data_dir, now=now, late=late)
        queued = service.deliver(conn, catalog, kept, now=now) if send else []
    return kept, queued


def report_jobs(
    engine: Engine, catalog: Catalog, clock: Clock, *, data_dir: Path, public_url: str | None
) -> list[Job]:
    links = Links(public_url)

    def run(kind: ReportKind, slot: Slot) -> None:
        period = period_for_slot(catalog, kind, slot)
        made, queued = make_report(
            engine, catalog, kind, period, links=links, data_dir=data_dir, now=clock.now(),
            late=slot.late, send=not slot.late,
        )  # fmt: skip
        log.info("report_made", kind=kind, period=period, outcome=made.outcome, late=slot.late,
                 queued=queued)  # fmt: skip

    spec = catalog.reports
    return [
        Job("reports:digest", spec.digest_schedule, lambda slot: run("daily", slot), catch_up=True),
        Job("reports:weekly", spec.weekly_schedule, lambda slot: run("weekly", slot),
            catch_up=True),
    ]  # fmt: skip
