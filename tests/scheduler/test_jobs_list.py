"""`ct jobs list` and what it shows: each job's schedule, last and next slot in the schedule's
zone and in UTC, last outcome and run count."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from control_tower.cli.jobs import format_job
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from control_tower.scheduler import (
    DailyAt,
    Every,
    Job,
    Scheduler,
    SingleProcessLeadership,
    Slot,
    list_jobs,
)
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import cli_env
from tests.pollers.fakes import catalog_data, http_poller


def nothing(_slot: Slot) -> None:
    return None


def failing(_slot: Slot) -> None:
    raise RuntimeError("SMTP refused")


def run_once(engine: Engine, clock: FrozenClock, *jobs: Job) -> None:
    scheduler = Scheduler(engine, clock, leadership=SingleProcessLeadership())
    for job in jobs:
        scheduler.register(job)
    try:
        scheduler.run_due()
    finally:
        scheduler.close()


def test_list_jobs_shows_slots_in_the_schedules_zone_and_in_utc(
    engine: Engine, clock: FrozenClock
) -> None:
    digest = Job("digest", DailyAt(time(8, 0), "Europe/London"), failing, catch_up=True)
    standup = Job("standup", DailyAt(time(9, 0), "Europe/London"), nothing)
    clock.set(datetime(2026, 7, 1, 7, 30, tzinfo=UTC))  # 08:30 BST
    run_once(engine, clock, digest)
    clock.set(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))

    [shown_digest, shown_standup] = list_jobs(engine, [digest, standup], clock.now())
    assert shown_digest.as_dict() == {
        "name": "digest",
        "schedule": "daily at 08:00 Europe/London",
        "zone": "Europe/London",
        "catch_up": True,
        "last_slot": {"utc": "2026-07-01T07:00:00+00:00", "local": "2026-07-01T08:00:00+01:00"},
        "next_slot": {"utc": "2026-07-02T07:00:00+00:00", "local": "2026-07-02T08:00:00+01:00"},
        "due": False,
        "current_slot": {
            "utc": "2026-07-01T07:00:00+00:00",
            "local": "2026-07-01T08:00:00+01:00",
        },
        "last_late": False,
        "last_status": "failed",
        "last_error": "RuntimeError: SMTP refused",
        "runs": 1,
    }
    assert format_job(shown_digest).splitlines() == [
        "digest                       daily at 08:00 Europe/London  (catches up missed slots)",
        "  last slot  2026-07-01 08:00:00 BST (2026-07-01 07:00:00 UTC)  failed, 1 run",
        "  next slot  2026-07-02 08:00:00 BST (2026-07-02 07:00:00 UTC)",
        "  last error RuntimeError: SMTP refused",
    ]
    # Never run: no row yet, and its 09:00 slot today (08:00 UTC) is due.
    assert shown_standup.last_slot_at is None
    assert (shown_standup.due, shown_standup.runs) == (True, 0)
    assert format_job(shown_standup).splitlines()[1:] == [
        "  last slot  never run",
        "  due now    2026-07-01 09:00:00 BST (2026-07-01 08:00:00 UTC)",
        "  next slot  2026-07-02 09:00:00 BST (2026-07-02 08:00:00 UTC)",
    ]


def test_list_jobs_in_winter_shows_gmt(engine: Engine, clock: FrozenClock) -> None:
    digest = Job("digest", DailyAt(time(8, 0), "Europe/London"), nothing)
    clock.set(datetime(2026, 10, 26, 9, 0, tzinfo=UTC))  # the day after the autumn change
    run_once(engine, clock, digest)
    [shown] = list_jobs(engine, [digest], clock.now())
    assert format_job(shown).splitlines()[1] == (
        "  last slot  2026-10-26 08:00:00 GMT (2026-10-26 08:00:00 UTC)  ok, 1 run"
    )


def _json(output: str) -> Any:
    """The JSON document a command printed (after any log lines)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "["))
    return json.loads("\n".join(lines[start:]))


def test_ct_jobs_list(
    database_url: str, engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog_data([http_poller("http://127.0.0.1:9/healthz")])))
    env = {**cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY), "CT_CATALOG": str(path)}
    runner = CliRunner()

    before = runner.invoke(cli, ["jobs", "list"], env=env)
    assert before.exit_code == 0, before.output
    lines = before.output.splitlines()
    titles = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert titles[:2] == ["poller:backend-health", "health:sweep"]  # pollers, then CT's own
    assert {"alerts:evaluate", "backups:nightly", "reports:digest"} <= set(titles)
    title = lines.index(next(line for line in lines if line.startswith("poller:")))
    assert lines[title].split() == ["poller:backend-health", "every", "60", "s"]
    assert lines[title + 1] == "  last slot  never run"

    # The poller's row as the scheduler leaves it after one slot (the job body is not the
    # poll: this test is about what is listed, not about polling).
    slot = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    clock.set(slot + timedelta(seconds=30))
    run_once(engine, clock, Job("poller:backend-health", Every(60), nothing))

    listed = runner.invoke(cli, ["jobs", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "  last slot  2026-07-01 09:00:00 UTC  ok, 1 run" in listed.output

    earliest = Every(60).next_after(datetime.now(UTC))
    as_json = runner.invoke(cli, ["jobs", "list", "--json"], env=env)
    latest = Every(60).next_after(datetime.now(UTC))
    assert as_json.exit_code == 0, as_json.output
    jobs = {job["name"]: job for job in _json(as_json.output)}
    assert jobs["health:sweep"]["schedule"] == "every 30 s"
    job = jobs["poller:backend-health"]
    assert (job["schedule"], job["zone"], job["catch_up"]) == ("every 60 s", "UTC", False)
    assert job["last_slot"] == {
        "utc": "2026-07-01T09:00:00+00:00",
        "local": "2026-07-01T09:00:00+00:00",
    }
    assert (job["last_status"], job["last_error"], job["last_late"], job["runs"]) == (
        "ok",
        None,
        False,
        1,
    )
    # The next slot follows the real clock, which this test does not control.
    assert datetime.fromisoformat(job["next_slot"]["utc"]) in {earliest, latest}


def test_ct_jobs_list_without_pollers_lists_cts_own_jobs(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog_data([])))
    env = {**cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY), "CT_CATALOG": str(path)}
    result = CliRunner().invoke(cli, ["jobs", "list"], env=env)
    assert result.exit_code == 0, result.output
    titles = [line.split()[0] for line in result.output.splitlines() if line[:1].isalpha()]
    assert titles[0] == "health:sweep"
    assert not any(title.startswith("poller:") for title in titles)
