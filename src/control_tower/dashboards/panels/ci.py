"""CI: the CI system's status, failed workflows by repository per day, and the list."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import day_label, day_starts, floor_day
from control_tower.dashboards.panels.common import TYPED_LIMIT, cut_note, external, top_series
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


@dataclass(frozen=True)
class Failure:
    at: datetime
    repo: str
    job: str
    url: str
    event_id: str


def failures(
    conn: Connection, req: PanelRequest, limit: int = TYPED_LIMIT
) -> tuple[list[Failure], str]:
    """Failed workflows in the window, newest first (the reports feature's `ci_failures` when
    the store has it, else the newest `ci.workflow.failed` events)."""
    key = f"ci:{req.since.isoformat()}:{limit}"
    if key not in req.scratch:
        if "ci_failures" in req.tables:
            rows = repo.ci_failure_rows(conn, req.since, limit)
            found = [Failure(r.at, r.repo, r.job, r.url, r.event_id) for r in rows]
        else:
            events = repo.typed_events(conn, ["ci.workflow.failed"], req.since, TYPED_LIMIT)
            found = [
                Failure(e.occurred_at, str(e.payload.get("repo", "?")),
                        str(e.payload.get("job", "")), str(e.payload.get("url", "")), e.event_id)
                for e in events
            ]  # fmt: skip
        req.scratch[key] = (found, cut_note(len(found), limit, "failures"))
    result: tuple[list[Failure], str] = req.scratch[key]
    return result


def status(conn: Connection, req: PanelRequest) -> StatData:
    try:
        ci = health_service.system_detail(conn, req.catalog, "ci", req.now)
    except NotFound:
        return StatData([StatItem("CI", "not in the catalogue")])
    failing = [
        f"{r.objective}: {r.message}" for r in ci.reasons if r.status.value in ("amber", "red")
    ]
    day = replace(req, window=timedelta(days=1))
    if "ci_failures" in req.tables:
        failed = sum(repo.ci_failures_per_repo(conn, day.since, req.now + timedelta(1)).values())
    else:
        failed = len(failures(conn, day)[0])
    return StatData([
        StatItem(ci.name, ci.status.value.upper(), ci.status.value, "; ".join(failing),
                 "/ui/systems/ci"),
        StatItem("Failed workflows in 24 h", str(failed)),
    ])  # fmt: skip


def by_repo(conn: Connection, req: PanelRequest) -> SeriesData:
    days = day_starts(req.now, max(1, (req.window or timedelta(days=7)).days))
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    note = ""
    if "ci_failures" in req.tables:  # a count per day, not the rows
        for start in days:
            for name, n in repo.ci_failures_per_repo(conn, start, start + timedelta(1)).items():
                counts[name][start] += n
    else:
        found, note = failures(conn, req)
        for f in found:
            counts[f.repo][floor_day(f.at)] += 1
    return SeriesData([day_label(d) for d in days], top_series(counts, days), note)


def table(conn: Connection, req: PanelRequest) -> TableData:
    found, note = failures(conn, req, SHOWN)
    note = "" if "ci_failures" in req.tables else note
    rows = [
        [Cell(f"{f.at:%Y-%m-%d %H:%M}"), Cell(f.repo, code=True), Cell(f.job),
         Cell("workflow run ↗" if external(f.url) else f.url, external(f.url)),
         Cell(f.event_id, f"/ui/events/{f.event_id}", code=True)]
        for f in found[:SHOWN]
    ]  # fmt: skip
    return TableData(["failed at (UTC)", "repository", "job", "run", "event"], rows, None, note,
                     "no failed workflow in this window")  # fmt: skip
