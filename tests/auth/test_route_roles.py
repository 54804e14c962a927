"""Every route declares the role it needs, and every role gets exactly what it should.

The walk reads the app's own routes, so a route added later is checked without editing this
file: it must either declare a role (a dependency from `require_role`, or an endpoint with
`required_role`) or be on the short public list below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.convertors import FloatConvertor, IntegerConvertor
from starlette.routing import BaseRoute, Mount, Route

from control_tower.app import create_app
from control_tower.auth.roles import Role
from control_tower.auth.tokens import IssuedToken
from control_tower.kit.clock import FrozenClock
from control_tower.kit.signing import sign
from control_tower.settings import Settings
from tests.conftest import issue_token

PUBLIC = {
    "/",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/ui/login",
}
# Endpoints that authenticate by other means than a bearer token, each checked below.
KNOWN_SCHEMES = {"ui-session", "ui-login", "github-signature", "stripe-signature"}
# Staff roles from least to most; each has every right of those before it.
STAFF_ORDER = [Role.viewer, Role.operator, Role.maintainer, Role.owner]
ALL_ROLES = [Role.producer, *STAFF_ORDER]
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    dependant: Dependant | None
    convertors: dict[str, Any]


def endpoints(routes: list[BaseRoute], prefix: str = "") -> Iterator[Endpoint]:
    """Every (path, method) the app serves, with its effective dependency tree.

    FastAPI wraps included routers; `iter_route_contexts` resolves them to the routes as
    served, with router-level dependencies folded into each route's dependant.
    """
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            yield from endpoints(route.routes, prefix + route.path)
            continue
        if not isinstance(route, Route | APIRoute):
            pytest.fail(f"unexpected route type {type(route).__name__}: {route!r}")
        dependant = context.dependant if isinstance(route, APIRoute) else None
        convertors = getattr(context, "param_convertors", None) or route.param_convertors
        for method in sorted((context.methods or {"GET"}) - {"HEAD"}):
            yield Endpoint(prefix + str(context.path), method, dependant, convertors)


def declared_role(dependant: Dependant | None) -> Role | None:
    """The role a route declares, found anywhere in its dependency tree."""
    if dependant is None:
        return None
    role = getattr(dependant.call, "required_role", None)
    if isinstance(role, Role):
        return role
    for sub in dependant.dependencies:
        found = declared_role(sub)
        if found is not None:
            return found
    return None


def auth_scheme(endpoint: Endpoint) -> str | None:
    """How a route authenticates when not by bearer token, declared on the endpoint or on a
    dependency (the UI's `require_page`)."""

    def find(dependant: Dependant | None) -> str | None:
        if dependant is None:
            return None
        scheme = getattr(dependant.call, "public_auth", None)
        if isinstance(scheme, str):
            return scheme
        return next((s for sub in dependant.dependencies if (s := find(sub))), None)

    return find(endpoint.dependant)


def concrete_path(endpoint: Endpoint) -> str:
    path = endpoint.path
    for name, convertor in endpoint.convertors.items():
        value = "1" if isinstance(convertor, IntegerConvertor | FloatConvertor) else "no-such-id"
        kind = type(convertor).__name__.removesuffix("Convertor").lower()
        path = path.replace("{" + name + "}", value).replace("{" + name + ":" + kind + "}", value)
    return path


def expected_allowed(actual: Role, required: Role) -> bool:
    if required is Role.producer or actual is Role.producer:
        return actual is required
    return STAFF_ORDER.index(actual) >= STAFF_ORDER.index(required)


@pytest.fixture
def walk_app(settings: Settings, clock: FrozenClock) -> FastAPI:
    # High limits: the walk makes many calls and must not meet a 429.
    return create_app(
        settings.model_copy(update={"anonymous_rate_limit_per_minute": UNLIMITED}), clock=clock
    )


@pytest.fixture
def role_tokens(engine: Engine, clock: FrozenClock) -> dict[Role, IssuedToken]:
    return {
        role: issue_token(
            engine,
            f"walk-{role.value}",
            role,
            "backend" if role is Role.producer else None,
            now=clock.now(),
            rate_per_minute=UNLIMITED,
            burst=UNLIMITED,
        )
        for role in ALL_ROLES
    }


def call(client: TestClient, endpoint: Endpoint, issued: IssuedToken | None) -> int:
    body = b"{}"
    headers = {"Content-Type": "application/json"}
    if issued is not None:
        headers["Authorization"] = f"Bearer {issued.token}"
        if issued.hmac_secret is not None:
            headers["X-CT-Signature"] = sign(issued.hmac_secret, body)
    has_body = endpoint.method in {"POST", "PUT", "PATCH"}
    response = client.request(
        endpoint.method,
        concrete_path(endpoint),
        headers=headers,
        content=body if has_body else None,
    )
    return response.status_code


def test_every_route_declares_a_role_or_is_public(walk_app: FastAPI) -> None:
    found = list(endpoints(walk_app.routes))
    assert {e.path for e in found} >= {"/events", "/events/batch", "/metrics", "/healthz"}
    undeclared = [
        f"{e.method} {e.path}"
        for e in found
        if e.path not in PUBLIC and declared_role(e.dependant) is None and auth_scheme(e) is None
    ]
    assert undeclared == [], "routes without a declared role and not public"
    schemes = {auth_scheme(e) for e in found} - {None}
    assert schemes <= KNOWN_SCHEMES


def test_ui_pages_send_strangers_to_sign_in(walk_app: FastAPI) -> None:
    pages = [e for e in endpoints(walk_app.routes) if auth_scheme(e) == "ui-session"]
    assert {e.path for e in pages} >= {"/ui/", "/ui/events", "/ui/dlq"}
    with TestClient(walk_app, raise_server_exceptions=False, follow_redirects=False) as client:
        for endpoint in pages:
            response = client.request(endpoint.method, concrete_path(endpoint))
            assert response.status_code == 303, endpoint.path
            assert response.headers["location"] == "/ui/login", endpoint.path


def test_every_route_times_every_role(
    walk_app: FastAPI, role_tokens: dict[Role, IssuedToken]
) -> None:
    protected = [
        (e, declared_role(e.dependant))
        for e in endpoints(walk_app.routes)
        if e.path not in PUBLIC and auth_scheme(e) is None
    ]
    assert protected, "no protected routes found"
    failures: list[str] = []
    with TestClient(walk_app, raise_server_exceptions=False) as client:
        for endpoint, required in protected:
            if required is None:
                failures.append(f"{endpoint.method} {endpoint.path} declares no role")
                continue
            where = f"{endpoint.method} {endpoint.path} (needs {required.value})"
            anonymous = call(client, endpoint, None)
            if anonymous != 401:
                failures.append(f"{where} without a token: {anonymous}")
            for role in ALL_ROLES:
                status = call(client, endpoint, role_tokens[role])
                if expected_allowed(role, required):
                    if status in (401, 403) or status >= 500:
                        failures.append(f"{where} as {role.value}: {status}, expected allowed")
                elif status != 403:
                    failures.append(f"{where} as {role.value}: {status}, expected 403")
    assert failures == []


def test_public_routes_answer_without_a_token(walk_app: FastAPI) -> None:
    with TestClient(walk_app, raise_server_exceptions=False) as client:
        for endpoint in endpoints(walk_app.routes):
            if endpoint.path in PUBLIC and auth_scheme(endpoint) is None:
                status = call(client, endpoint, None)
                assert status == 200, f"{endpoint.method} {endpoint.path}: {status}"


def test_the_walk_sees_the_roles_the_routes_declare(walk_app: FastAPI) -> None:
    roles = {(e.method, e.path): declared_role(e.dependant) for e in endpoints(walk_app.routes)}
    assert roles[("POST", "/events")] is Role.producer
    assert roles[("POST", "/events/batch")] is Role.producer
    assert roles[("GET", "/events")] is Role.maintainer
    assert roles[("GET", "/events/{event_id}")] is Role.maintainer
    assert roles[("GET", "/metrics")] is Role.viewer
    assert roles[("GET", "/healthz")] is None


# --- bodies: never read before authentication, never past their limit ---------------------


class BodyReads:
    """Plain ASGI middleware noting, per request, whether the app asked for the body."""

    def __init__(self, app: Any, reads: list[bool]) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        read = [False]

        async def noting() -> Any:
            message = await receive()
            read[0] = read[0] or message["type"] == "http.request"
            return message

        try:
            await self.app(scope, noting, send)
        finally:
            self.reads.append(read[0])


def body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every API route that takes a body, from the OpenAPI document."""
    return sorted(
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    )


def concrete(path: str) -> str:
    return path.replace("{name}", "contract.regenerate").replace("{run_id}", "run-x")


@pytest.fixture
def watched(walk_app: FastAPI) -> tuple[FastAPI, list[bool]]:
    reads: list[bool] = []
    walk_app.add_middleware(BodyReads, reads=reads)
    return walk_app, reads


def test_the_body_routes_are_the_ones_expected(walk_app: FastAPI) -> None:
    assert body_routes(walk_app) == [
        ("POST", "/alerts/{alert_id}/ack"),
        ("POST", "/events"),
        ("POST", "/events/batch"),
        ("POST", "/runs/{run_id}/notes"),
        ("POST", "/silences"),
        ("POST", "/triggers/{name}"),
    ]


def test_no_body_is_read_before_the_caller_is_authenticated_and_authorised(
    watched: tuple[FastAPI, list[bool]], role_tokens: dict[Role, IssuedToken]
) -> None:
    app, reads = watched
    bad_json = b'{"not json'
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in body_routes(app):
            for who, expected in ((None, 401), (Role.viewer, 403)):
                reads.clear()
                headers = {"Content-Type": "application/json"}
                if who is not None:
                    headers["Authorization"] = f"Bearer {role_tokens[who].token}"
                answer = client.request(method, concrete(path), content=bad_json, headers=headers)
                assert answer.status_code == expected, (path, who, answer.text)
                assert reads == [False], f"{path} read the body of a {expected}"


def test_every_body_over_its_limit_is_413(
    watched: tuple[FastAPI, list[bool]], role_tokens: dict[Role, IssuedToken]
) -> None:
    app, _reads = watched
    big = b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'  # over every limit (batches: 4 MiB)

    def chunks() -> Iterator[bytes]:
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in body_routes(app):
            who = role_tokens[Role.producer if path.startswith("/events") else Role.owner]
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {who.token}"}
            if who.hmac_secret is not None:
                headers["X-CT-Signature"] = sign(who.hmac_secret, big)
            declared = client.request(method, concrete(path), content=big, headers=headers)
            assert declared.status_code == 413, (path, declared.text)
            chunked = client.request(method, concrete(path), content=chunks(), headers=headers)
            assert chunked.status_code == 413, (path, "chunked", chunked.text)
