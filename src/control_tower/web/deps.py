"""What UI pages depend on: the app's context, the signed-in person, checked forms, rendering.

A page declares who may see it with a `require_page(role)` dependency (`SignedIn` for any
staff role): a stranger is sent to the sign-in page, someone without the role sees why, with 403.
A page that changes something takes its form through `checked_form(role)` (`CsrfChecked` for
any staff role): the form must come from CT's own origin and carry the session's CSRF token,
which `render` puts in every page as `csrf_token`; otherwise the answer is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role, has_role
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.kit.errors import BadRequest, UnsupportedMediaType
from control_tower.kit.http_body import read_bounded_body
from control_tower.web.session import UISession, current_principal, current_session, tokens_match

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


@dataclass(frozen=True)
class CheckedForm:
    """A form that passed the origin and CSRF checks: whose session sent it, and its fields
    (the first value of each)."""

    session: UISession
    fields: dict[str, str]

    @property
    def principal(self) -> Principal:
        return self.session.principal


FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None


def same_origin(request: Request) -> bool:
    """The browser says the request comes from a page of CT's own origin: `Origin`, or
    `Referer` where a browser leaves `Origin` out. Neither, or `Origin: null`, is refused.

    CT's origin is the request's own scheme and Host; behind a proxy, the proxy passes Host
    through and is in CT_TRUSTED_PROXIES, so the scheme is the one the browser used."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return False
    own = _origin(str(request.base_url))
    return own is not None and _origin(claimed) == own


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """A URL-encoded form body, read within `limit` bytes (413 past it) and parsed here, so
    nothing buffers a body before the caller's checks have run."""
    body = await read_bounded_body(request, limit)
    if not body:
        return {}  # a form with no fields: its checks then refuse it for what it lacks
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise UnsupportedMediaType(f"a form is sent as {FORM_TYPE}")
    try:
        parsed = parse_qs(
            body.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # not ASCII, not UTF-8 once unquoted, or too many fields
        raise BadRequest("the form is not a valid URL-encoded body") from exc
    return {name: values[0] for name, values in parsed.items()}


def checked_form(role: Role, refusal: str | None = None) -> Callable[..., Any]:
    """A dependency for a state-changing page: signed in with `role` (else what `require_page`
    does), then the origin check, then the form, read within CT_MAX_BODY_BYTES, with the
    session's CSRF token in its `csrf` field."""
    page = require_page(role, refusal)

    # `page` is a local: FastAPI resolves string annotations in the module, so it goes in a
    # default, not in an Annotated.
    async def dependency(
        request: Request, ctx: UIContext, who: Principal = Depends(page)
    ) -> CheckedForm:
        session = await current_session(request, ctx)  # the one `page` found and kept
        if session is None:  # not reached: `page` refuses a request without one
            raise SignInRequired()
        if not same_origin(request):
            raise PageForbidden("This form was sent from another site.", who)
        fields = await read_form(request, ctx.settings.max_body_bytes)
        if not tokens_match(session.csrf_token, fields.get("csrf")):
            raise PageForbidden(
                "This form is out of date or did not come from Control Tower: reload the "
                "page and send it again.",
                who,
            )
        return CheckedForm(session, fields)

    return dependency


CsrfChecked = Annotated[CheckedForm, Depends(checked_form(Role.viewer))]


def can(principal: Principal, role: Role) -> bool:
    return has_role(principal.role, role)


def render(
    request: Request, name: str, principal: Principal | None, status_code: int = 200, **data: Any
) -> Response:
    data.update(principal=principal, can=can, Role=Role)
    if "csrf_token" not in data:  # the sign-in page brings its own
        session: UISession | None = getattr(request.state, "ui_session", None)
        data["csrf_token"] = session.csrf_token if session is not None else None
    return templates.TemplateResponse(request, name, data, status_code=status_code)


async def read(ctx: AppContext, fn: Callable[[Connection], T]) -> T:
    """Run a service read in a worker thread, in its own read transaction."""

    def run() -> T:
        with unit_of_work(ctx.engine, write=False) as conn:
            return fn(conn)

    return await anyio.to_thread.run_sync(run)


async def write(ctx: AppContext, fn: Callable[[Connection], T]) -> T:
    """Run a service change in a worker thread, in its own write transaction (committed when
    `fn` returns, rolled back when it raises)."""

    def run() -> T:
        with unit_of_work(ctx.engine) as conn:
            return fn(conn)

    return await anyio.to_thread.run_sync(run)
