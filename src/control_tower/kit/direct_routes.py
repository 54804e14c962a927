"""Hot routes dispatched straight to their endpoint, past FastAPI's whole stack.

For an endpoint that takes only the `Request` and returns a `Response` (the ingest doors), the
layers between the server and the endpoint — Starlette's error middleware and its send wrapper,
route matching over every route, FastAPI's request handler, its exception and exit-stack
middleware — do nothing but cost time: measured under load, more than the endpoint's own work
(docs/benchmarks.md). This sits inside `RequestContextMiddleware` (request id, access line,
HTTP metrics stay as for every route), in front of the FastAPI app (`ControlTowerApp.__call__`),
and answers errors as the app's handlers do: a domain error with `ct_error_response`, anything
else with `crash_response` (logged, 500). The route stays an ordinary FastAPI route for
OpenAPI, the role walk and every other method or path.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from control_tower.kit.errors import CTError
from control_tower.kit.http_errors import crash_response, ct_error_response


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.routes = {
            (method, route.path): route for route in routes for method in route.methods or ()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        try:
            response = await route.endpoint(Request(scope, receive, send))
        except CTError as exc:
            response = ct_error_response(exc)
        except Exception as exc:
            response = crash_response(exc)
        await response(scope, receive, send)
