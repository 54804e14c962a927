"""Plain ASGI middleware: request ids, access logs, HTTP metrics and rate-limit headers."""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_tower.kit.http_headers import header
from control_tower.observability.logging import access_line
from control_tower.observability.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class _RequestIds:
    """Ids unique across processes and restarts without a system call per request: 12 random
    bytes per process (drawn again in a forked child), then a counter — `os.urandom` per
    request was a `getrandom` call each time."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = os.urandom(12).hex()
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):08x}"


_request_ids = _RequestIds()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id") or ""
        request_id = incoming if _REQUEST_ID.match(incoming) else _request_ids.next()
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
                limits: list[tuple[bytes, bytes]] | None = state.get("rate_limit_headers")
                if limits:  # the caller's rate-limit headers (Decision.raw_headers)
                    present = dict(headers)  # ASGI response header names are lower case
                    headers += [(name, value) for name, value in limits if name not in present]
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
            metrics.child(metrics.http_requests, template, method, str(status)).inc()
            metrics.child(metrics.http_latency, template, method).observe(elapsed)
            access_line(
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                principal=state.get("principal_name"),
            )
            structlog.contextvars.clear_contextvars()
