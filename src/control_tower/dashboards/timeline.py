"""What happened and what was done, in one place: an event with the run it correlates with,
and a correlation id's timeline of events, run transitions, notes and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.events import service as events_service
from control_tower.events.repository import EventFilter
from control_tower.events.schemas import Event
from control_tower.kit.errors import NotFound
from control_tower.runs import service as runs_service
from control_tower.runs.schemas import RunDetail

TIMELINE_EVENTS = 200
ALERTS_SCANNED = 500  # the newest alerts whose labels are checked for the correlation id


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event | transition | note | alert
    title: str
    detail: str = ""
    href: str | None = None
    actor: str = ""


@dataclass
class Timeline:
    correlation_id: str
    entries: list[Entry]
    run: RunDetail | None = None
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


def find_run(conn: Connection, run_id: str | None) -> RunDetail | None:
    if not run_id:
        return None
    try:
        return runs_service.get_run(conn, run_id)
    except NotFound:
        return None


def event_detail(conn: Connection, event_id: str) -> tuple[Event, RunDetail | None]:
    event = events_service.get_event(conn, event_id)
    return event, find_run(conn, event.correlation_id)


def correlation(conn: Connection, correlation_id: str) -> Timeline:
    flt = EventFilter(correlation_id=correlation_id)
    page = events_service.list_events(conn, flt, TIMELINE_EVENTS, None)
    entries = [
        Entry(e.occurred_at, "event", e.type, f"{e.source} · ingest {e.ingest.status.value}",
              f"/ui/events/{e.event_id}", e.producer)
        for e in page.items
    ]  # fmt: skip
    run = find_run(conn, correlation_id)
    if run is not None:
        for t in run.transitions:
            moved = f"{t.from_status.value if t.from_status else '—'} → {t.to_status.value}"
            entries.append(Entry(t.at, "transition", f"run {moved}", t.reason,
                                 f"/ui/runs/{run.run_id}", t.actor))  # fmt: skip
        for n in run.notes:
            entries.append(Entry(n.at, "note", "note", n.text, f"/ui/runs/{run.run_id}",
                                 n.author))  # fmt: skip
    for a in repo.recent_alerts(conn, ALERTS_SCANNED):
        labels = a.labels if isinstance(a.labels, dict) else {}
        if correlation_id in (labels.get("correlation_id"), labels.get("run_id")):
            entries.append(Entry(a.started_at, "alert", f"alert {a.rule} ({a.state})",
                                 a.summary, "/ui/alerts"))  # fmt: skip
    if not entries:
        raise NotFound(f"nothing carries the correlation id {correlation_id!r}")
    entries.sort(key=lambda e: e.at)
    return Timeline(correlation_id, entries, run, page.next_cursor is not None)
