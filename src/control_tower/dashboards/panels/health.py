"""Executive status: the systems now, their last seven days, open alerts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import Connection

from control_tower.auth.roles import Role
from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import ago, day_label, day_starts
from control_tower.dashboards.schemas import (
    Action,
    Cell,
    PanelRequest,
    StatData,
    StatItem,
    StatusCell,
    StatusGridData,
    StatusRow,
    TableData,
)
from control_tower.health import service as health_service
from control_tower.health.schemas import HealthOverview, HealthStatus
from control_tower.health.slo import worst


def overview(conn: Connection, req: PanelRequest) -> HealthOverview:
    """The health overview, evaluated once per page (two panels show it)."""
    if "overview" not in req.scratch:
        req.scratch["overview"] = health_service.overview(conn, req.catalog, req.now)
    found: HealthOverview = req.scratch["overview"]
    return found


def overall(conn: Connection, req: PanelRequest) -> StatData:
    ov = overview(conn, req)
    tally = Counter(s.status.value for s in ov.systems)
    detail = ", ".join(f"{tally[s]} {s}" for s in ("red", "amber", "green", "unknown") if tally[s])
    return StatData(
        [StatItem("Overall", ov.status.value.upper(), ov.status.value, detail),
         StatItem("Evaluated", f"{req.now:%H:%M:%S} UTC", None, f"{req.now:%Y-%m-%d}")]
    )  # fmt: skip


def systems(conn: Connection, req: PanelRequest) -> StatusGridData:
    ov = overview(conn, req)
    states = repo.system_states(conn)
    rows = []
    for s in ov.systems:
        state = states.get(s.system_id)
        seen = [t for t in (s.last_heartbeat_at, state.last_event_at if state else None) if t]
        failing = [r for r in s.reasons if r.status.value in ("amber", "red")]
        shown = failing or (s.reasons if s.status is HealthStatus.unknown else [])
        rows.append(
            StatusRow(
                system_id=s.system_id,
                name=s.name,
                status=s.status.value,
                reasons=[f"{r.objective}: {r.message}" for r in shown],
                last_update=max(seen) if seen else None,
                status_since=state.status_since if state else None,
                cells=[StatusCell(r.objective, r.status.value, r.message) for r in s.reasons],
                errors_24h=s.errors_24h,
            )
        )
    return StatusGridData(rows)


def history(conn: Connection, req: PanelRequest) -> StatusGridData:
    """Each system's worst status per UTC day, from its recorded status changes."""
    days = day_starts(req.now, max(1, (req.window or timedelta(days=7)).days))
    found = repo.status_changes(conn, [s.id for s in req.catalog.systems], days[0])
    rows = []
    for system in req.catalog.systems:
        current, changes = found[system.id]
        pending = list(changes)
        cells = []
        for start in days:
            end = start + timedelta(days=1)
            seen = [HealthStatus(current)] if current else []
            moved = 0
            while pending and pending[0].at < end:
                change = pending.pop(0)
                seen.append(HealthStatus(change.to_status))
                current = change.to_status
                moved += 1
            status = worst(seen) if seen else HealthStatus.unknown
            detail = f"{moved} change{'s' * (moved != 1)}" if moved else "no change"
            cells.append(StatusCell(day_label(start), status.value, detail))
        rows.append(StatusRow(system.id, system.name, cells[-1].status, cells=cells))
    return StatusGridData(rows, [day_label(d) for d in days])


def open_alerts(conn: Connection, req: PanelRequest) -> TableData:
    rows = []
    for a in repo.open_alerts(conn, 50):
        ack = (
            Action("Acknowledge", f"/ui/alerts/{a.id}/ack", Role.operator)
            if a.state == "firing"
            else None
        )
        who = f" by {a.acknowledged_by}" if a.acknowledged_by else ""
        rows.append([
            Cell(ago(a.started_at, req.now)), Cell(a.severity), Cell(a.rule, code=True),
            Cell(a.summary), Cell(a.state + who, action=ack),
        ])  # fmt: skip
    return TableData(["started", "severity", "rule", "summary", "state"], rows,
                     empty="no open alerts")  # fmt: skip
