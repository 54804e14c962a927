"""The event stream and the dead letters, for maintainers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.events import service as events_service
from control_tower.events.repository import EventFilter
from control_tower.routing import dlq
from control_tower.web.deps import UIContext, read, render, require_page

pages = APIRouter()

EventsReader = Annotated[
    Principal, Depends(require_page(Role.maintainer, "Events need the maintainer role."))
]
DeadLetterReader = Annotated[
    Principal, Depends(require_page(Role.maintainer, "The DLQ needs the maintainer role."))
]


@pages.get("/events", response_class=HTMLResponse)
async def event_stream(
    request: Request, who: EventsReader, ctx: UIContext,
    type: str | None = None, source: str | None = None, cursor: str | None = None,
) -> Response:  # fmt: skip
    flt = EventFilter(type=type or None, source=source or None)
    events = await read(ctx, lambda c: events_service.list_events(c, flt, 50, cursor))
    return render(request, "events.html", who, page_=events, type=type, source=source)


@pages.get("/dlq", response_class=HTMLResponse)
async def dead_letters(request: Request, who: DeadLetterReader, ctx: UIContext) -> Response:
    dead = await read(ctx, lambda c: dlq.list_dead(c, 100, None))
    return render(request, "dlq.html", who, dead=dead)
