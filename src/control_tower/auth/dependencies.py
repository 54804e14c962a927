"""Authentication and role checks, declared as dependencies on every route that needs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role, has_role
from control_tower.context import AppContext
from control_tower.kit.errors import Forbidden, RateLimited, Unauthorized
from control_tower.kit.http_headers import header


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.ctx  # set by create_app's lifespan (ControlTowerApp)
    return ctx


async def context_dependency(request: Request) -> AppContext:
    """`get_context` as a dependency; async because FastAPI runs a `def` one in a thread."""
    return get_context(request)


Context = Annotated[AppContext, Depends(context_dependency)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request) -> Principal:
    """The caller's principal, after its rate limit; strangers are limited by address."""
    ctx = get_context(request)
    authorization = header(request.scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    principal = None
    if scheme.lower() == "bearer" and token.strip():
        principal = await ctx.resolve_token(token.strip())
    if principal is None:
        decision = await ctx.rate_hit(f"addr:{client_address(request)}", ctx.limit_for(None))
        if not decision.allowed:
            raise RateLimited("too many unauthenticated requests", headers=decision.headers())
        message = (
            "unknown, revoked or expired token"
            if token.strip()
            else "missing bearer token (Authorization: Bearer <token>)"
        )
        raise Unauthorized(message, headers={"WWW-Authenticate": "Bearer"})
    decision = await ctx.rate_hit(f"token:{principal.token_id}", ctx.limit_for(principal))
    # The ASGI scope's state (what `request.state` wraps in a new object on first use): read by
    # RequestContextMiddleware for the answer's headers and the access line.
    state = request.scope.setdefault("state", {})
    state["rate_limit_headers"] = decision.raw_headers()
    state["principal_name"] = principal.name
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of token {principal.name!r} exceeded", headers=decision.headers()
        )
    return principal


async def authorize(request: Request, role: Role) -> Principal:
    """The caller's principal if it holds `role` (or a higher one); 401/403/429 otherwise."""
    principal = await authenticate(request)
    if not has_role(principal.role, role):
        raise Forbidden(
            f"this needs the {role.value} role; token {principal.name!r} is {principal.role.value}",
            code="insufficient_role",
        )
    return principal


def require_role(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        return await authorize(request, role)

    dependency.required_role = role  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{role.value}"
    return dependency


F = TypeVar("F", bound=Callable[..., Any])


def authenticates_by(scheme: str) -> Callable[[F], F]:
    """Mark an endpoint that authenticates by something other than a bearer token.

    The route × role test accepts such endpoints only for the schemes it knows how to check
    (the UI's session cookie, the GitHub webhook signature).
    """

    def mark(endpoint: F) -> F:
        endpoint.public_auth = scheme  # type: ignore[attr-defined]
        return endpoint

    return mark


RequireProducer = Annotated[Principal, Depends(require_role(Role.producer))]
RequireViewer = Annotated[Principal, Depends(require_role(Role.viewer))]
RequireOperator = Annotated[Principal, Depends(require_role(Role.operator))]
RequireMaintainer = Annotated[Principal, Depends(require_role(Role.maintainer))]
RequireOwner = Annotated[Principal, Depends(require_role(Role.owner))]
