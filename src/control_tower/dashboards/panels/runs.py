"""Runs: success rate per trigger over 7 and 30 days, durations, failure reasons, recent runs."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row

from control_tower.auth.roles import Role
from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import ago, percentile
from control_tower.dashboards.panels.common import cut_note
from control_tower.dashboards.schemas import Action, Cell, PanelRequest, SeriesData, TableData
from control_tower.runs import service as runs_service
from control_tower.runs.repository import ACTIVE, RunFilter

RUNS_LIMIT = 5_000  # runs of one trigger a panel reads
ENDED = ("success", "failed")


def window_runs(conn: Connection, req: PanelRequest) -> tuple[list[Row[Any]], str]:
    """Runs created in the window, of every trigger in the catalogue (read once per page)."""
    key = f"runs:{req.since.isoformat()}"
    if key not in req.scratch:
        triggers = [t.name for t in req.catalog.triggers]
        rows = repo.runs_since(conn, triggers, req.since, RUNS_LIMIT)
        per_trigger: dict[str, int] = defaultdict(int)
        for r in rows:
            per_trigger[r.trigger] += 1
        note = cut_note(max(per_trigger.values(), default=0), RUNS_LIMIT, "runs of a trigger")
        req.scratch[key] = (rows, note)
    rows, note = req.scratch[key]
    return rows, note


def success_rates(rows: list[Row[Any]], req: PanelRequest, days: int) -> dict[str, float | None]:
    since = req.now - timedelta(days=days)
    ok: dict[str, int] = defaultdict(int)
    ended: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.created_at >= since and r.status in ENDED:
            ended[r.trigger] += 1
            ok[r.trigger] += r.status == "success"
    return {
        t.name: (100.0 * ok[t.name] / ended[t.name] if ended[t.name] else None)
        for t in req.catalog.triggers
    }


def success_rate(conn: Connection, req: PanelRequest) -> SeriesData:
    rows, note = window_runs(conn, req)
    names = [t.name for t in req.catalog.triggers]
    series: list[tuple[str, list[float | None]]] = []
    for days in (7, 30):
        rates = success_rates(rows, req, days)
        series.append((f"{days} days", [rates[n] for n in names]))
    return SeriesData(names, series, note or "No bar: no finished run in that window.")


def durations(rows: list[Row[Any]], trigger: str) -> list[float]:
    return [
        (r.ended_at - r.created_at).total_seconds()
        for r in rows
        if r.trigger == trigger and r.status in ENDED and r.ended_at is not None
    ]


def duration(conn: Connection, req: PanelRequest) -> SeriesData:
    rows, note = window_runs(conn, req)
    names = [t.name for t in req.catalog.triggers]
    p50 = [percentile(durations(rows, n), 50) for n in names]
    p95 = [percentile(durations(rows, n), 95) for n in names]
    return SeriesData(names, [("p50", p50), ("p95", p95)], note)


def failure_reasons(conn: Connection, req: PanelRequest) -> TableData:
    rows, note = window_runs(conn, req)
    trigger_of = {r.run_id: r.trigger for r in rows if r.status == "failed"}
    grouped: dict[tuple[str, str], list[Row[Any]]] = defaultdict(list)
    for t in repo.failure_transitions(conn, list(trigger_of)[:1000]):
        grouped[(trigger_of[t.run_id], t.reason or "(no reason)")].append(t)
    table = []
    for (trigger, reason), items in sorted(grouped.items(), key=lambda kv: -len(kv[1])):
        last = max(items, key=lambda t: t.at)
        table.append([
            Cell(trigger, code=True), Cell(reason), Cell(str(len(items))),
            Cell(ago(last.at, req.now)), Cell(last.run_id, f"/ui/runs/{last.run_id}", code=True),
        ])  # fmt: skip
    return TableData(["trigger", "reason", "runs", "last", "latest run"], table[:30], None, note,
                     "no failed run in this window")  # fmt: skip


def recent(conn: Connection, req: PanelRequest) -> TableData:
    params = req.params
    flt = RunFilter(trigger=params.get("trigger") or None, status=params.get("status") or None)
    page = runs_service.list_runs(conn, flt, 20, params.get("cursor") or None)
    rows = []
    for run in page.items:
        took = (run.ended_at or req.now) - run.created_at
        cancel = (
            Action("Cancel", f"/ui/runs/{run.run_id}/cancel", Role.operator,
                   f"Cancel run {run.run_id}?")
            if run.status.value in ACTIVE
            else None
        )  # fmt: skip
        rows.append([
            Cell(f"{run.created_at:%Y-%m-%d %H:%M}"), Cell(run.trigger, code=True),
            Cell(run.status.value, action=cancel), Cell(run.initiator), Cell(str(run.attempts)),
            Cell(f"{took.total_seconds():.1f} s"),
            Cell(run.run_id, f"/ui/runs/{run.run_id}", code=True),
        ])  # fmt: skip
    return TableData(["created (UTC)", "trigger", "status", "initiator", "attempts", "took",
                      "run"], rows, page.next_cursor, empty="no runs yet")  # fmt: skip
