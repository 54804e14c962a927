"""Authentication and role checks, declared as FastAPI dependencies on every route.

A route says who may call it by a parameter: `RequireViewer`, `RequireOperator`, …,
`RequireProducer` for ingest, `RequireMetricsReader` for /metrics. The route × role test walks
every route's dependencies and finds the role there (`required_role` on the dependency).
Routes that authenticate by something other than a bearer token (the UI's session, GitHub's
signature) declare that with `authenticates_by`.

A bearer is a CT token, or a Google ID token (Firebase for staff, a service account for a
producer) when it looks like a JWT; `app.state.identity` verifies those (auth/identity.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from control_tower.auth.identity import (
    IdentityConfig,
    IdentityVerifier,
    ServiceAccountLink,
    looks_like_jwt,
)
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role, has_role
from control_tower.context import AppContext
from control_tower.kit.errors import (
    Forbidden,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from control_tower.kit.http_body import parse_json, read_bounded_body, require_json


def context_of(request: Request) -> AppContext:
    """The running app's context, built in its lifespan."""
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_context(request: Request) -> AppContext:
    # async: FastAPI would run a plain function dependency in a worker thread.
    return context_of(request)


Context = Annotated[AppContext, Depends(get_context)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: Request) -> Principal:
    """The caller's principal, after its rate limit; strangers are limited by address."""
    ctx = context_of(request)
    token = bearer_token(request)
    refusal: Unauthorized | Forbidden | None = None
    if token and looks_like_jwt(token):
        try:
            principal: Principal | None = await id_token_principal(request.app, token)
        except (Unauthorized, Forbidden) as exc:
            principal, refusal = None, exc
    else:
        principal = await ctx.resolve_token(token) if token else None
    if principal is None:
        decision = await ctx.rate_hit(f"addr:{client_address(request)}", ctx.limit_for(None))
        if not decision.allowed:
            raise RateLimited("too many unauthenticated requests", headers=decision.headers())
        message = (
            "unknown, revoked or expired token"
            if token
            else "missing bearer token (Authorization: Bearer <token>)"
        )
        if isinstance(refusal, Forbidden):  # a valid ID token that gives no access
            raise refusal
        if refusal is not None:  # an invalid ID token: say what was wrong with it
            message = refusal.message
        code = refusal.code if refusal is not None else None
        raise Unauthorized(message, code=code, headers={"WWW-Authenticate": "Bearer"})
    decision = await ctx.rate_hit(f"token:{principal.token_id}", ctx.limit_for(principal))
    # Read by RequestContextMiddleware for the answer's headers and the access line.
    request.state.rate_limit_headers = decision.raw_headers()
    request.state.principal_name = principal.name
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of token {principal.name!r} exceeded", headers=decision.headers()
        )
    return principal


def build_identity(ctx: AppContext) -> IdentityVerifier:
    """The app's verifier of Google ID tokens, from the settings and the catalogue."""
    s = ctx.settings
    config = IdentityConfig(
        firebase_project_id=s.firebase_project_id,
        firebase_certs_url=s.firebase_certs_url,
        google_certs_url=s.google_certs_url,
        audience=s.public_url,
        role_claim=s.firebase_role_claim,
        cache_seconds=s.token_cache_seconds,
    )
    links = {
        account.email: ServiceAccountLink(account.source, account.token)
        for account in ctx.catalog.identity.service_accounts
    }
    return IdentityVerifier(config, ctx.engine, ctx.clock, links)


def identity_of(app: Any) -> IdentityVerifier | None:
    """The verifier `create_app` keeps on the app's state (None when there is none)."""
    verifier: IdentityVerifier | None = getattr(app.state, "identity", None)
    return verifier


async def id_token_principal(app: Any, token: str) -> Principal:
    verifier = identity_of(app)
    if verifier is None:
        raise Unauthorized("ID tokens are not accepted here")
    return await verifier.principal_for(token)


async def ui_id_token_principal(app: Any, token: str) -> tuple[Principal | None, str]:
    """The UI sign-in's principal for a Firebase ID token, or None and why it was refused."""
    verifier = identity_of(app)
    if verifier is None:
        return None, "ID tokens are not accepted here"
    try:
        return await verifier.ui_principal(token), ""
    except (Unauthorized, Forbidden, Unavailable) as exc:
        return None, exc.message


def check_role(principal: Principal, role: Role) -> Principal:
    if not has_role(principal.role, role):
        raise Forbidden(
            f"this needs the {role.value} role; token {principal.name!r} is {principal.role.value}",
            code="insufficient_role",
        )
    return principal


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return check_role(principal, role)

    dependency.required_role = role  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{role.value}"
    return dependency


async def metrics_reader(request: Request) -> Principal | None:
    """Viewer or better, unless CT_METRICS_PUBLIC makes /metrics public (then None)."""
    if context_of(request).settings.metrics_public:
        return None
    return check_role(await authenticate(request), Role.viewer)


metrics_reader.required_role = Role.viewer  # type: ignore[attr-defined]

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M], *, optional: bool = False) -> Callable[..., Awaitable[M | None]]:
    """A request body as `model`, read only once the caller is authenticated (the route's role
    dependency, declared before it, has then also run) and never past `CT_MAX_BODY_BYTES`.

    FastAPI reads a body parameter before it resolves any dependency, so a route that takes a
    body this way never lets a stranger make CT buffer or parse anything. The route documents
    the body with `openapi_extra=json_request(model)`."""

    async def dependency(
        request: Request, _caller: Annotated[Principal, Depends(authenticate)]
    ) -> M | None:
        body = await read_bounded_body(request, context_of(request).settings.max_body_bytes)
        if not body.strip() and optional:
            return None
        require_json(request)
        value = parse_json(body)
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(["body", *map(str, err["loc"])]), "message": err["msg"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            fields = ", ".join(p["field"] for p in problems)
            raise Unprocessable(f"invalid request: {fields}", details=problems) from exc

    return dependency


def json_request(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads `model` with `json_body` (inline: such
    bodies are small, flat models)."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise ValueError(f"{model.__name__} nests models: give it a component instead")
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


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
RequireMetricsReader = Annotated[Principal | None, Depends(metrics_reader)]
