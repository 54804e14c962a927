"""`GET /events` and `GET /events/{event_id}`: the stored event stream, for maintainers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from control_tower.auth.dependencies import Context, RequireMaintainer
from control_tower.db import unit_of_work
from control_tower.events import service
from control_tower.events.repository import EventFilter
from control_tower.events.schemas import Event, EventPage
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_tower.kit.query import UtcInstant

api = APIRouter(tags=["events"])


@api.get("/events", response_model=EventPage, summary="List events, newest first")
def get_events(
    _principal: RequireMaintainer,
    ctx: Context,
    type: Annotated[str | None, Query(max_length=128)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    correlation_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[UtcInstant | None, Query(description="occurred_at ≥ since")] = None,
    until: Annotated[UtcInstant | None, Query(description="occurred_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventPage:
    flt = EventFilter(type, source, correlation_id, since, until)
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_events(conn, flt, limit, cursor)


@api.get("/events/{event_id}", response_model=Event, summary="One event")
def get_event(
    event_id: Annotated[str, Path(max_length=128)], _principal: RequireMaintainer, ctx: Context
) -> Event:
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.get_event(conn, event_id)
