"""Plain ASGI middleware: request ids, access logs, HTTP metrics and rate-limit headers.

Plain ASGI rather than `BaseHTTPMiddleware`, whose task boundary loses context variables
(the request id bound here must reach every log line the request writes).
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_tower.observability.logging import CurrentLogger
from control_tower.observability.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Generated ids: random per app, then a counter. Unique is all an id needs, and a
        # fresh random one per request is a system call each time (`os.urandom`).
        self._id_prefix = uuid.uuid4().hex[:16]
        self._id_counter = itertools.count()
        self._access_log = CurrentLogger("control_tower.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id") or ""
        request_id = incoming if _REQUEST_ID.match(incoming) else self._new_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                # The caller's rate-limit headers (raw pairs, set by authentication), unless
                # the answer carries its own (a 429 does).
                if limits := state.get("rate_limit_headers"):
                    present = {name for name, _ in headers}
                    headers += [pair for pair in limits if pair[0] not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            metrics = self.metrics
            metrics.series(metrics.http_requests, template, method, str(status)).inc()
            metrics.series(metrics.http_latency, template, method).observe(elapsed)
            self._access_log.get().info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                principal=state.get("principal_name"),
            )
            structlog.contextvars.clear_contextvars()

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):016x}"
