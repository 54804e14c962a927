"""Sign in with a staff token, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_tower.auth.dependencies import (
    authenticates_by,
    client_address,
    ui_id_token_principal,
)
from control_tower.auth.identity import looks_like_jwt
from control_tower.auth.roles import Role
from control_tower.context import AppContext
from control_tower.web.deps import CsrfChecked, UIContext, read_form, render, same_origin
from control_tower.web.session import (
    clear_login_cookie,
    clear_session_cookie,
    close_session,
    login_form_nonce,
    login_form_token,
    login_form_valid,
    open_session,
    set_login_cookie,
    set_session_cookie,
)

pages = APIRouter()

TOKEN_MAX = 200  # longer than any token CT issues


def login_page(
    request: Request, ctx: AppContext, error: str | None = None, status_code: int = 200
) -> Response:
    """The sign-in form, with its CSRF token and the cookie that token is signed over."""
    nonce = login_form_nonce(request, ctx)
    token = login_form_token(ctx, nonce)
    response = render(request, "login.html", None, status_code, error=error, csrf_token=token)
    set_login_cookie(response, request, nonce)
    return response


@pages.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, ctx: UIContext) -> Response:
    return login_page(request, ctx)


@pages.post("/login", response_class=HTMLResponse)
@authenticates_by("ui-login")
async def login(request: Request, ctx: UIContext) -> Response:
    # Each attempt spends the address's anonymous budget (the API's 401s spend the same one)
    # before anything is read, so guessing tokens here is no faster than on the API.
    decision = await ctx.rate_hit(f"addr:{client_address(request)}", ctx.limit_for(None))
    if not decision.allowed:
        wait = decision.retry_after_seconds
        message = f"Too many sign-in attempts from your address: try again in {wait} s."
        response = render(request, "message.html", None, 429, message=message)
        response.headers.update(decision.headers())
        return response
    refused = "This sign-in form is out of date or did not come from Control Tower: try again."
    if not same_origin(request):
        return login_page(request, ctx, refused, 403)
    form = await read_form(request, ctx.settings.max_body_bytes)
    if not login_form_valid(request, ctx, form.get("csrf")):
        return login_page(request, ctx, refused, 403)
    token = form.get("token", "").strip()
    if looks_like_jwt(token):  # a Firebase ID token (docs/auth.md)
        principal, refusal = await ui_id_token_principal(request.app.state.parent, token)
        if principal is None:
            return login_page(request, ctx, f"Firebase sign-in refused: {refusal}")
    else:
        principal = await ctx.resolve_token(token) if 0 < len(token) <= TOKEN_MAX else None
    if principal is None or principal.role is Role.producer:
        return login_page(request, ctx, "Unknown, revoked or producer token.")
    response = RedirectResponse("/ui/", status_code=303)
    set_session_cookie(response, request, ctx, await open_session(ctx, principal))
    clear_login_cookie(response, request)
    return response


@pages.post("/logout")
async def logout(request: Request, ctx: UIContext, form: CsrfChecked) -> Response:
    await close_session(ctx, form.session)
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookie(response, request)
    return response
