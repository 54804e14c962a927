"""One system's page (the status board is the Executive status dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from control_tower.health import service as health_service
from control_tower.kit.errors import NotFound
from control_tower.web.deps import SignedIn, UIContext, read, render

pages = APIRouter()


@pages.get("/systems/{system_id}", response_class=HTMLResponse)
async def system(request: Request, system_id: str, who: SignedIn, ctx: UIContext) -> Response:
    try:
        detail = await read(ctx, lambda c: health_service.system_detail(
            c, ctx.catalog, system_id, ctx.clock.now()))  # fmt: skip
    except NotFound:
        return render(request, "message.html", who, 404, message=f"No system {system_id!r}.")
    return render(request, "system.html", who, system=detail)
