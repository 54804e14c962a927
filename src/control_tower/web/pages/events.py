"""An event, a correlation's timeline, and replaying a dead letter (maintainers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.dashboards import timeline
from control_tower.routing import dlq
from control_tower.web.deps import (
    CheckedForm,
    UIContext,
    checked_form,
    read,
    render,
    require_page,
    write,
)

pages = APIRouter()

EventsReader = Annotated[
    Principal, Depends(require_page(Role.maintainer, "Events need the maintainer role."))
]
DeadLetterReader = Annotated[
    Principal, Depends(require_page(Role.maintainer, "The DLQ needs the maintainer role."))
]
Replayer = Annotated[
    CheckedForm,
    Depends(checked_form(Role.maintainer, "Replaying a dead letter needs the maintainer role.")),
]
EventId = Annotated[str, Path(max_length=128)]


@pages.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(
    request: Request, event_id: EventId, who: EventsReader, ctx: UIContext
) -> Response:
    event, run = await read(ctx, lambda c: timeline.event_detail(c, event_id))
    return render(request, "event.html", who, event=event, run=run)


@pages.get("/correlations/{correlation_id}", response_class=HTMLResponse)
async def correlation_page(
    request: Request, correlation_id: EventId, who: EventsReader, ctx: UIContext
) -> Response:
    found = await read(ctx, lambda c: timeline.correlation(c, correlation_id))
    return render(request, "correlation.html", who, timeline=found)


@pages.get("/dlq", response_class=HTMLResponse)
async def dead_letters(_who: DeadLetterReader) -> Response:
    return RedirectResponse("/ui/exceptions", status_code=303)


@pages.post("/dlq/{event_id}/replay")
async def replay(event_id: EventId, form: Replayer, ctx: UIContext) -> Response:
    actor = form.principal.name
    await write(ctx, lambda c: dlq.replay(c, [event_id], actor=actor, now=ctx.clock.now()))
    if ctx.router_loop is not None:
        ctx.router_loop.wake()
    return RedirectResponse("/ui/exceptions?replayed=" + event_id, status_code=303)
