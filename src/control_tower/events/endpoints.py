"""`GET /events` and `GET /events/{event_id}`: the stored event stream, for maintainers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from control_tower.auth.dependencies import Context, RequireMaintainer
from control_tower.db import unit_of_work
from control_tower.events import service
from control_tower.events.repository import EventFilter
from control_tower.events.schemas import Event, EventPage
from control_tower.kit.errors import Unprocessable
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

api = APIRouter(tags=["events"])


def _refuse_nul(name: str, value: str | None) -> None:
    # PostgreSQL refuses U+0000 in a text parameter; answer 422 instead of failing the query.
    if value is not None and "\x00" in value:
        raise Unprocessable(
            f"{name} may not contain U+0000", details=[{"field": name, "message": "U+0000"}]
        )


def _utc_bound(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Unprocessable(
            f"{name} must carry a UTC offset", details=[{"field": name, "message": "naive"}]
        )
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise Unprocessable(
            f"{name} is out of range", details=[{"field": name, "message": "out of range"}]
        ) from exc


@api.get("/events", response_model=EventPage, summary="List events, newest first")
def get_events(
    _principal: RequireMaintainer,
    ctx: Context,
    type: Annotated[str | None, Query(max_length=128)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    correlation_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="occurred_at ≥ since")] = None,
    until: Annotated[datetime | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventPage:
    for name, text in (("type", type), ("source", source), ("correlation_id", correlation_id)):
        _refuse_nul(name, text)
    flt = EventFilter(
        type, source, correlation_id, _utc_bound("since", since), _utc_bound("until", until)
    )
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_events(conn, flt, limit, cursor)


@api.get("/events/{event_id}", response_model=Event, summary="One event")
def get_event(
    event_id: Annotated[str, Path(max_length=128)], _principal: RequireMaintainer, ctx: Context
) -> Event:
    _refuse_nul("event_id", event_id)
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.get_event(conn, event_id)
