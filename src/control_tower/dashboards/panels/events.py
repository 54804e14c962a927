"""Event stream: events per hour by type, and the filtered, keyset-paged list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import floor_hour, hour_label, hour_starts
from control_tower.dashboards.panels.common import top_series
from control_tower.dashboards.schemas import Cell, PanelRequest, SeriesData, TableData
from control_tower.dashboards.spec import parse_window
from control_tower.events import service as events_service
from control_tower.events.repository import EventFilter
from control_tower.events.schemas import Event
from control_tower.kit.errors import BadRequest, NotFound

PAGE = 50
LAST_CHOICES = ("1h", "24h", "7d", "30d")


def per_hour_by_type(conn: Connection, req: PanelRequest) -> SeriesData:
    hours = max(1, int((req.window or timedelta(hours=24)).total_seconds() // 3600))
    buckets = hour_starts(req.now, hours)
    until = buckets[-1] + timedelta(hours=1)
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for r in repo.hourly_event_counts(conn, buckets[0], until):
        counts[r.type][floor_hour(r.bucket_start)] += int(r.events)
    return SeriesData([hour_label(b) for b in buckets], top_series(counts, buckets))


def _instant(name: str, text: str) -> datetime:
    """A filter's time: ISO 8601, or a browser's `datetime-local` (read as UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: not a time: {text!r}; use YYYY-MM-DDTHH:MM (UTC)") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_filter(params: Mapping[str, str], now: datetime) -> EventFilter:
    """The list's filter from the page's query string (blank fields are no filter)."""
    get = params.get
    since = until = None
    last = (get("last") or "").strip()
    if last:
        if last not in LAST_CHOICES:
            raise BadRequest(f"last: one of {', '.join(LAST_CHOICES)}")
        since = now - parse_window(last)
    if text := (get("since") or "").strip():
        since = _instant("since", text)
    if text := (get("until") or "").strip():
        until = _instant("until", text)
    return EventFilter(
        type=(get("type") or "").strip() or None,
        source=(get("source") or "").strip() or None,
        correlation_id=(get("correlation_id") or "").strip() or None,
        since=since,
        until=until,
    )


def event_row(e: Event) -> list[Cell]:
    corr = e.correlation_id
    return [
        Cell(f"{e.ingest.received_at:%Y-%m-%d %H:%M:%S}"),
        Cell(f"{e.occurred_at:%Y-%m-%d %H:%M:%S}"),
        Cell(e.type, code=True),
        Cell(e.source),
        Cell(e.event_id, f"/ui/events/{e.event_id}", code=True),
        Cell(corr or "", f"/ui/correlations/{corr}" if corr else None, code=True),
        Cell(e.ingest.status.value),
    ]


# Newest first in the order CT received them (the keyset); when each happened beside it.
COLUMNS = ["received (UTC)", "occurred", "type", "source", "event id", "correlation", "ingest"]


def event_list(conn: Connection, req: PanelRequest) -> TableData:
    params = dict(req.params)
    event_id = (params.get("event_id") or "").strip()
    if event_id:
        try:
            found = [events_service.get_event(conn, event_id)]
        except NotFound:
            found = []
        return TableData(COLUMNS, [event_row(e) for e in found], empty=f"no event {event_id!r}")
    flt = event_filter(params, req.now)
    page = events_service.list_events(conn, flt, PAGE, params.get("cursor") or None)
    return TableData(COLUMNS, [event_row(e) for e in page.items], page.next_cursor,
                     empty="no events match")  # fmt: skip
