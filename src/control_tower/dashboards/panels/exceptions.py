"""Exceptions: the routing queue now, dead-letter depth over time, top error types and
functions, and the dead letters with replay."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import Connection

from control_tower.auth.roles import Role
from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import day_label, day_starts
from control_tower.dashboards.panels.common import TOP, cut_note
from control_tower.dashboards.schemas import (
    Action,
    Cell,
    PanelRequest,
    SeriesData,
    StatData,
    StatItem,
    TableData,
)
from control_tower.routing import dlq

DEAD_LIMIT = 500  # dead letters the depth chart reads


def queue_now(conn: Connection, _req: PanelRequest) -> StatData:
    counts = dlq.count_routes(conn, "dead", "retrying", "pending")
    dead, retrying = counts["dead"], counts["retrying"]
    return StatData([
        StatItem("Dead letters", str(dead), "red" if dead else "green",
                 "need a replay or a fix" if dead else "none"),
        StatItem("Retrying", str(retrying), "amber" if retrying else "green",
                 "waiting for another routing attempt"),
        StatItem("Pending", str(counts["pending"]), None, "not yet routed"),
    ])  # fmt: skip


def depth_over_time(conn: Connection, req: PanelRequest) -> SeriesData:
    """The DLQ depth at the end of each day, of the letters still dead (a replayed letter
    leaves the queue and this chart; Prometheus keeps `ct_dlq_depth` as it was)."""
    days = day_starts(req.now, max(1, (req.window or timedelta(days=7)).days))
    page = dlq.list_dead(conn, DEAD_LIMIT, None)
    depth: list[float | None] = []
    for start in days:
        end = start + timedelta(days=1)
        depth.append(float(sum(1 for d in page.items if d.dead_at < end)))
    note = cut_note(len(page.items), DEAD_LIMIT, "dead letters")
    return SeriesData([day_label(d) for d in days], [("still dead", depth)], note)


def error_types(req: PanelRequest) -> list[str]:
    return [t.type for t in req.catalog.event_types if t.health_signal == "error"]


def top_types(conn: Connection, req: PanelRequest) -> SeriesData:
    types = error_types(req)
    counts = repo.event_counts_by_type(conn, types, req.since)
    ranked = sorted((t for t in types if counts.get(t)), key=lambda t: -counts[t])[:TOP]
    return SeriesData(ranked, [("errors", [float(counts[t]) for t in ranked])])


def top_functions(conn: Connection, req: PanelRequest) -> SeriesData:
    ranked = Counter(repo.fn_error_totals(conn, req.since)).most_common(TOP)
    return SeriesData([n for n, _ in ranked], [("errors", [float(c) for _, c in ranked])])


def dead_letters(conn: Connection, req: PanelRequest) -> TableData:
    page = dlq.list_dead(conn, 50, req.params.get("cursor") or None)
    rows = [
        [Cell(f"{d.dead_at:%Y-%m-%d %H:%M}"),
         Cell(d.event_id, f"/ui/events/{d.event_id}", code=True), Cell(d.type, code=True),
         Cell(d.source), Cell(str(d.attempts)),
         Cell(d.last_error or "", action=Action(
             "Replay", f"/ui/dlq/{d.event_id}/replay", Role.maintainer,
             f"Send {d.event_id} back to the router?"))]
        for d in page.items
    ]  # fmt: skip
    return TableData(
        ["died (UTC)", "event", "type", "source", "attempts", "last error"],
        rows,
        page.next_cursor,
        f"depth {page.depth}",
        "the dead-letter queue is empty",
    )
