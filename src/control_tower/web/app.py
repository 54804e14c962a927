"""UI pages: status board, one system, events, dead letters. Read-only; sign-in by token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, Engine

from control_tower.auth.dependencies import authenticates_by
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.events import dlq
from control_tower.events import service as events_service
from control_tower.events.repository import EventFilter
from control_tower.health import service as health_service
from control_tower.kit.errors import NotFound
from control_tower.observability.otel import NO_TELEMETRY
from control_tower.web.session import COOKIE, can, current_principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
T = TypeVar("T")


def create_web_app(parent: FastAPI) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_TELEMETRY)
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def ctx() -> AppContext:
        context: AppContext = parent.state.ctx
        return context

    def page(request: Request, name: str, principal: Principal | None, **data: Any) -> Response:
        data.update(principal=principal, can=can, Role=Role)
        return templates.TemplateResponse(request, name, data)

    async def signed_in(request: Request) -> Principal | Response:
        principal = await current_principal(request, ctx())
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        return principal

    @web.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return page(request, "login.html", None, error=None)

    @web.post("/login", response_class=HTMLResponse)
    @authenticates_by("ui-login")
    async def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
        principal = await ctx().resolve_token(token.strip())
        if principal is None or principal.role is Role.producer:
            return page(request, "login.html", None, error="Unknown, revoked or producer token.")
        response = RedirectResponse("/ui/", status_code=303)
        response.set_cookie(
            COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600
        )
        return response

    @web.post("/logout")
    @authenticates_by("ui-session")
    async def logout() -> Response:
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @web.get("/", response_class=HTMLResponse)
    @authenticates_by("ui-session")
    async def board(request: Request) -> Response:
        who = await signed_in(request)
        if isinstance(who, Response):
            return who
        context = ctx()
        overview = await _read(context.engine, lambda c: health_service.overview(
            c, context.catalog, context.clock.now()))  # fmt: skip
        return page(request, "board.html", who, overview=overview)

    @web.get("/systems/{system_id}", response_class=HTMLResponse)
    @authenticates_by("ui-session")
    async def system(request: Request, system_id: str) -> Response:
        who = await signed_in(request)
        if isinstance(who, Response):
            return who
        context = ctx()
        try:
            detail = await _read(context.engine, lambda c: health_service.system_detail(
                c, context.catalog, system_id, context.clock.now()))  # fmt: skip
        except NotFound:
            return page(request, "message.html", who, message=f"No system {system_id!r}.")
        return page(request, "system.html", who, system=detail)

    @web.get("/events", response_class=HTMLResponse)
    @authenticates_by("ui-session")
    async def event_stream(
        request: Request, type: str | None = None, source: str | None = None,
        cursor: str | None = None,
    ) -> Response:  # fmt: skip
        who = await signed_in(request)
        if isinstance(who, Response):
            return who
        if not can(who, Role.maintainer):
            return page(request, "message.html", who, message="Events need the maintainer role.")
        flt = EventFilter(type=type or None, source=source or None)
        events = await _read(ctx().engine, lambda c: events_service.list_events(c, flt, 50, cursor))
        return page(request, "events.html", who, page_=events, type=type, source=source)

    @web.get("/dlq", response_class=HTMLResponse)
    @authenticates_by("ui-session")
    async def dead_letters(request: Request) -> Response:
        who = await signed_in(request)
        if isinstance(who, Response):
            return who
        if not can(who, Role.maintainer):
            return page(request, "message.html", who, message="The DLQ needs the maintainer role.")
        dead = await _read(ctx().engine, lambda c: dlq.list_dead(c, 100, None))
        return page(request, "dlq.html", who, dead=dead)

    return web


async def _read(engine: Engine, fn: Callable[[Connection], T]) -> T:
    def run() -> T:
        with unit_of_work(engine, write=False) as conn:
            return fn(conn)

    return await anyio.to_thread.run_sync(run)
