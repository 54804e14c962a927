"""GET /reports/daily and /reports/weekly (JSON or Markdown, archived bytes first) and the
`ct digest` / `ct weekly` commands."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.catalog.loader import default_catalog_text
from control_tower.cli.main import app as cli_app
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import notifications, report_archive
from control_tower.reports import service
from control_tower.routing.router import Router
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Emit, Staff, cli_env
from tests.reports.conftest import CHANNELS, LINKS, LONDON, london


def archived_count(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(report_archive)).scalar_one())


def test_the_api_serves_the_archived_bytes_as_json_or_markdown(
    engine: Engine, catalog: Catalog, client: TestClient, staff: Staff, clock: FrozenClock,
    settings: Settings, emit: Emit, router: Router,
) -> None:  # fmt: skip
    clock.set(london(2026, 11, 27, 9))
    emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"},
         occurred_at=london(2026, 11, 26, 10))  # fmt: skip
    router.drain()
    with unit_of_work(engine) as conn:
        made = service.make(conn, catalog, "daily", "2026-11-26", links=LINKS,
                            data_dir=settings.data_dir, now=clock.now())  # fmt: skip
    report = made.archived.rendered
    viewer = staff.headers(Role.viewer)

    latest = client.get("/reports/daily", headers=viewer)
    assert latest.status_code == 200, latest.text
    assert latest.headers["content-type"] == "application/json"
    assert latest.content == report.json
    by_date = client.get("/reports/daily", params={"date": "2026-11-26", "format": "md"},
                         headers=viewer)  # fmt: skip
    assert by_date.headers["content-type"] == "text/markdown; charset=utf-8"
    assert by_date.content == report.markdown
    accepted = client.get("/reports/daily", params={"date": "2026-11-26"},
                          headers={**viewer, "Accept": "text/markdown"})  # fmt: skip
    assert accepted.content == report.markdown
    forced = client.get("/reports/daily", params={"date": "2026-11-26", "format": "json"},
                        headers={**viewer, "Accept": "text/markdown"})  # fmt: skip
    assert forced.content == report.json

    # A day not archived is made on the fly and not archived: a read writes nothing.
    other = client.get("/reports/daily", params={"date": "2026-11-25"}, headers=viewer)
    assert other.status_code == 200
    assert other.json()["report_date"] == "2026-11-25"
    assert archived_count(engine) == 1
    today = client.get("/reports/daily", params={"date": "2026-11-27"}, headers=viewer)
    assert (today.status_code, today.json()["error"]["code"]) == (404, "period_not_over")
    for bad in ("2026-02-30", "26-11-2026", "1066-10-14"):
        answer = client.get("/reports/daily", params={"date": bad}, headers=viewer)
        assert answer.status_code == 422, bad

    weekly = client.get("/reports/weekly", headers=viewer)  # none archived: the last week
    assert weekly.status_code == 200
    assert weekly.json()["week"] == "2026-W47"
    w47 = client.get("/reports/weekly", params={"week": "2026-W47", "format": "md"},
                     headers=viewer)  # fmt: skip
    assert w47.text.startswith("# Swan Recruitment: weekly trend, 2026-W47")
    assert client.get("/reports/weekly", params={"week": "2026-W48"},
                      headers=viewer).status_code == 404  # fmt: skip
    assert client.get("/reports/weekly", params={"week": "2026-W60"},
                      headers=viewer).status_code == 422  # fmt: skip
    assert client.get("/reports/daily").status_code == 401


def test_ct_digest_and_ct_weekly_archive_print_and_send(
    engine: Engine, database_url: str, tmp_path: Path, clock: FrozenClock, emit: Emit,
    router: Router,
) -> None:  # fmt: skip
    # The CLI runs on the process clock: the day is the day before yesterday, whatever it is.
    now = datetime.now(UTC)
    clock.set(now)
    day = now.astimezone(LONDON).date() - timedelta(days=2)
    noon = datetime.combine(day, time(12), LONDON)
    emit("backend.fn.error", "backend", {"fn_name": "cli_fn", "severity": "high"},
         occurred_at=noon)  # fmt: skip
    router.drain()
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        default_catalog_text().replace("    channels: []\n", "    channels: [ops-slack]\n")
        + CHANNELS
    )
    env = {**cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY),
           "CT_CATALOG": str(catalogue)}  # fmt: skip
    runner = CliRunner()

    first = runner.invoke(cli_app, ["digest", "--date", day.isoformat(), "--send"], env=env)
    assert first.exit_code == 0, first.output
    assert "`cli_fn` high: 1" in first.stdout
    assert "archived in" in first.stderr
    assert "queued on: ops-slack" in first.stderr
    again = runner.invoke(cli_app, ["digest", "--date", day.isoformat(), "--send", "--json"],
                          env=env)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "already archived, identical" in again.stderr
    assert "queued on: none" in again.stderr
    folder = tmp_path / "data" / "reports" / "daily" / str(day.year)
    assert (folder / f"{day.isoformat()}.json").read_text() == again.stdout
    with unit_of_work(engine, write=False) as conn:
        keys = list(conn.execute(select(notifications.c.idempotency_key)).scalars())
    assert keys == [f"report:daily:{day.isoformat()}"]

    weekly = runner.invoke(cli_app, ["weekly"], env=env)
    assert weekly.exit_code == 0, weekly.output
    assert "weekly trend" in weekly.stdout
    bad = runner.invoke(cli_app, ["digest", "--date", "yesterday"], env=env)
    assert bad.exit_code == 1
    assert "not a date" in bad.stderr
    future = runner.invoke(cli_app, ["digest", "--date", (day + timedelta(days=9)).isoformat()],
                           env=env)  # fmt: skip
    assert future.exit_code == 1
    assert "has not ended" in future.stderr
