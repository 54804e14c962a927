"""What UI pages depend on: the app's context, the signed-in person, rendering.

A page declares who may see it with a `require_page(role)` dependency (`SignedIn` for any
staff role): a stranger is sent to the sign-in page, someone without the role sees why, with 403.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role, has_role
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.web.session import current_principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
T = TypeVar("T")


class SignInRequired(Exception):
    """No valid session: the UI's handler redirects to /ui/login."""


class PageForbidden(Exception):
    """Signed in, without the role the page needs: the UI's handler says so, with 403."""

    def __init__(self, message: str, principal: Principal) -> None:
        super().__init__(message)
        self.message = message
        self.principal = principal


async def ui_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.parent.state.ctx
    return ctx


UIContext = Annotated[AppContext, Depends(ui_context)]


def require_page(role: Role, refusal: str | None = None) -> Callable[..., Any]:
    async def dependency(request: Request, ctx: UIContext) -> Principal:
        principal = await current_principal(request, ctx)
        if principal is None:
            raise SignInRequired()
        if not has_role(principal.role, role):
            raise PageForbidden(refusal or f"This page needs the {role.value} role.", principal)
        request.state.principal_name = principal.name
        return principal

    dependency.public_auth = "ui-session"  # type: ignore[attr-defined]
    dependency.page_role = role  # type: ignore[attr-defined]
    return dependency


SignedIn = Annotated[Principal, Depends(require_page(Role.viewer))]


def can(principal: Principal, role: Role) -> bool:
    return has_role(principal.role, role)


def render(
    request: Request, name: str, principal: Principal | None, status_code: int = 200, **data: Any
) -> Response:
    data.update(principal=principal, can=can, Role=Role)
    return templates.TemplateResponse(request, name, data, status_code=status_code)


async def read(ctx: AppContext, fn: Callable[[Connection], T]) -> T:
    """Run a service read in a worker thread, in its own read transaction."""

    def run() -> T:
        with unit_of_work(ctx.engine, write=False) as conn:
            return fn(conn)

    return await anyio.to_thread.run_sync(run)
