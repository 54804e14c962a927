"""The report jobs on the real scheduler: the digest at 08:00 London in summer, in winter and on
both DST days; catch-up after downtime (every missed day archived, only the latest delivered,
the others late); and the weekly trend on Monday morning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import notifications, report_archive
from control_tower.reports.tasks import report_jobs
from control_tower.scheduler import JobRegistry, Scheduler

Schedulers = Callable[[Catalog], Scheduler]


@pytest.fixture
def scheduler(engine: Engine, clock: FrozenClock, data_dir: Path) -> Iterator[Schedulers]:
    """Schedulers running the report jobs, given up (leader lock released) after the test."""
    made: list[Scheduler] = []

    def new(catalog: Catalog) -> Scheduler:
        jobs = JobRegistry(report_jobs(engine, catalog, clock, data_dir=data_dir, public_url=None))
        made.append(Scheduler(engine, clock, registry=jobs))
        return made[-1]

    yield new
    for s in made:
        s.close()


def tick(s: Scheduler, clock: FrozenClock, at: datetime) -> list[tuple[str, datetime, bool]]:
    clock.set(at)
    return [(run.name, run.slot.at, run.slot.late) for run in s.run_due(at) if run.status == "ok"]


def archived(engine: Engine, kind: str = "daily") -> dict[str, bool]:
    with unit_of_work(engine, write=False) as conn:
        rows = conn.execute(
            select(report_archive.c.period, report_archive.c.late)
            .where(report_archive.c.kind == kind)
            .order_by(report_archive.c.period)
        )
        return {row.period: row.late for row in rows}


def queued(engine: Engine) -> list[tuple[str, str]]:
    with unit_of_work(engine, write=False) as conn:
        rows = conn.execute(select(notifications.c.channel, notifications.c.idempotency_key))
        return sorted((row.channel, row.idempotency_key) for row in rows)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_the_digest_runs_at_0800_london_in_summer_and_in_winter(
    engine: Engine, catalog: Catalog, clock: FrozenClock, scheduler: Schedulers
) -> None:
    s = scheduler(catalog)
    # First tick: each job runs its current slot once (it has no history to catch up).
    assert tick(s, clock, utc(2026, 7, 1, 6)) == [
        ("reports:digest", utc(2026, 6, 30, 7), False),  # 08:00 BST
        ("reports:weekly", utc(2026, 6, 29, 7), False),  # Monday 08:00 BST
    ]
    assert tick(s, clock, utc(2026, 7, 1, 6, 59, 59)) == []
    assert tick(s, clock, utc(2026, 7, 1, 7)) == [("reports:digest", utc(2026, 7, 1, 7), False)]
    assert archived(engine) == {"2026-06-29": False, "2026-06-30": False}
    assert archived(engine, "weekly") == {"2026-W26": False}
    # Winter: 08:00 GMT is 08:00 UTC.
    caught_up = tick(s, clock, utc(2026, 12, 1, 7, 59, 59))  # the days missed since July
    assert ("reports:digest", utc(2026, 11, 30, 8), False) in caught_up
    assert tick(s, clock, utc(2026, 12, 1, 8)) == [("reports:digest", utc(2026, 12, 1, 8), False)]
    assert "2026-11-30" in archived(engine)


def test_the_digest_runs_at_0800_london_on_both_dst_days(
    engine: Engine, catalog: Catalog, clock: FrozenClock, scheduler: Schedulers
) -> None:
    s = scheduler(catalog)
    tick(s, clock, utc(2026, 3, 28, 8))  # Saturday 08:00 GMT
    assert tick(s, clock, utc(2026, 3, 29, 6, 59)) == []
    assert tick(s, clock, utc(2026, 3, 29, 7)) == [  # Sunday 08:00 BST, clocks just went forward
        ("reports:digest", utc(2026, 3, 29, 7), False)]  # fmt: skip
    tick(s, clock, utc(2026, 10, 24, 7))  # Saturday 08:00 BST (catches up the summer)
    assert tick(s, clock, utc(2026, 10, 25, 7, 59)) == []  # 07:59 GMT: not yet
    assert tick(s, clock, utc(2026, 10, 25, 8)) == [  # Sunday 08:00 GMT, clocks just went back
        ("reports:digest", utc(2026, 10, 25, 8), False)]  # fmt: skip
    days = archived(engine)
    assert {"2026-03-28", "2026-10-23", "2026-10-24"} <= set(days)


def test_after_three_missed_days_each_is_archived_and_only_the_latest_is_delivered(
    engine: Engine, channel_catalog: Catalog, clock: FrozenClock, scheduler: Schedulers
) -> None:
    s = scheduler(channel_catalog)
    tick(s, clock, utc(2026, 11, 23, 8, 0, 5))  # Monday: digest of Sunday, trend of W47
    # Down from Monday 09:00 until Friday 08:30: three digests were missed.
    runs = tick(s, clock, utc(2026, 11, 27, 8, 30))

    assert runs == [
        ("reports:digest", utc(2026, 11, 24, 8), True),
        ("reports:digest", utc(2026, 11, 25, 8), True),
        ("reports:digest", utc(2026, 11, 26, 8), True),
        ("reports:digest", utc(2026, 11, 27, 8), False),
    ]
    assert archived(engine) == {"2026-11-22": False, "2026-11-23": True, "2026-11-24": True,
                                "2026-11-25": True, "2026-11-26": False}  # fmt: skip
    assert queued(engine) == [
        ("ops-slack", "report:daily:2026-11-22"),
        ("ops-slack", "report:daily:2026-11-26"),
        ("ops-slack", "report:weekly:2026-W47"),
    ]
    # A restart re-running nothing: every slot is claimed once.
    s.close()
    again = scheduler(channel_catalog)
    assert tick(again, clock, utc(2026, 11, 27, 9)) == []
    with unit_of_work(engine, write=False) as conn:
        message = conn.execute(
            select(notifications.c.message).where(
                notifications.c.idempotency_key == "report:daily:2026-11-26")
        ).scalar_one()  # fmt: skip
    assert message["kind"] == "digest"
    assert message["text"].startswith("# Swan Recruitment: daily digest, Thursday 26 November")
    assert "<h1>" in message["html"]
