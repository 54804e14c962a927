"""CI: the CI system's status, failed workflows by repository per day, and the list."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import day_label, day_starts
from control_tower.dashboards.panels.common import external, top_series
from control_tower.dashboards.schemas import (
    Cell,
    PanelRequest,
    SeriesData,
    StatData,
    StatItem,
    TableData,
)
from control_tower.health import service as health_service
from control_tower.kit.errors import NotFound

SHOWN = 50  # failures the table lists, newest first


def status(conn: Connection, req: PanelRequest) -> StatData:
    try:
        ci = health_service.system_detail(conn, req.catalog, "ci", req.now)
    except NotFound:
        return StatData([StatItem("CI", "not in the catalogue")])
    failing = [
        f"{r.objective}: {r.message}" for r in ci.reasons if r.status.value in ("amber", "red")
    ]
    since = req.now - timedelta(days=1)
    failed = sum(repo.ci_failures_per_repo(conn, since, req.now + timedelta(1)).values())
    return StatData([
        StatItem(ci.name, ci.status.value.upper(), ci.status.value, "; ".join(failing),
                 "/ui/systems/ci"),
        StatItem("Failed workflows in 24 h", str(failed)),
    ])  # fmt: skip


def by_repo(conn: Connection, req: PanelRequest) -> SeriesData:
    days = day_starts(req.now, max(1, (req.window or timedelta(days=7)).days))
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for start in days:  # a count per day, not the rows
        for name, n in repo.ci_failures_per_repo(conn, start, start + timedelta(1)).items():
            counts[name][start] += n
    return SeriesData([day_label(d) for d in days], top_series(counts, days))


def table(conn: Connection, req: PanelRequest) -> TableData:
    rows = [
        [Cell(f"{f.at:%Y-%m-%d %H:%M}"), Cell(f.repo, code=True), Cell(f.job),
         Cell("workflow run ↗" if external(f.url) else f.url, external(f.url)),
         Cell(f.event_id, f"/ui/events/{f.event_id}", code=True)]
        for f in repo.ci_failure_rows(conn, req.since, SHOWN)
    ]  # fmt: skip
    return TableData(["failed at (UTC)", "repository", "job", "run", "event"], rows,
                     empty="no failed workflow in this window")  # fmt: skip
