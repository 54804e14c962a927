"""Sign in with a staff token, sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_tower.auth.dependencies import authenticates_by
from control_tower.auth.roles import Role
from control_tower.web.deps import UIContext, render
from control_tower.web.session import COOKIE

pages = APIRouter()


@pages.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return render(request, "login.html", None, error=None)


@pages.post("/login", response_class=HTMLResponse)
@authenticates_by("ui-login")
async def login(
    request: Request, ctx: UIContext, token: Annotated[str, Form(max_length=200)]
) -> Response:
    principal = await ctx.resolve_token(token.strip())
    if principal is None or principal.role is Role.producer:
        return render(request, "login.html", None, error="Unknown, revoked or producer token.")
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@pages.post("/logout")
@authenticates_by("ui-session")
async def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
