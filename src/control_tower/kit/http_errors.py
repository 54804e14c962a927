"""One JSON error body for every failure: domain errors, validation, routing, crashes."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from control_tower.kit.errors import CTError, StoreUnavailable, error_body
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.kit.store_errors import STORE_DOWN

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        problems.append({"field": ".".join(loc) or "(request)", "message": err.get("msg", "")})
    return problems


def ct_error_response(exc: CTError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    store_log = ThrottledLog("control_tower.store")

    @app.exception_handler(CTError)
    async def _ct_error(_request: Request, exc: CTError) -> JSONResponse:
        return ct_error_response(exc)

    async def _store_down(_request: Request, exc: Exception) -> JSONResponse:
        store_log.error("store_unavailable", type(exc).__name__, exc_info=exc)
        return ct_error_response(
            StoreUnavailable("the store is unavailable; retry shortly", retry_after_seconds=2)
        )

    for kind in STORE_DOWN:
        app.add_exception_handler(kind, _store_down)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # The client went away mid-upload: nothing to answer, and not a fault of CT's. 499 is
        # what the access line and metrics then show (nginx's "client closed request").
        return Response(status_code=499)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = _problems(exc)
        fields = ", ".join(p["field"] for p in problems)
        return JSONResponse(
            error_body("validation_failed", f"invalid request: {fields}", problems),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        return crash_response(exc)


def crash_response(exc: Exception) -> JSONResponse:
    """The answer to an exception no handler expected: logged, and a 500 with the usual body."""
    log.error("unhandled_error", error=type(exc).__name__, exc_info=exc)
    # Starlette re-raises the exception once this answer is sent, and the server then closes
    # the connection: say so, or a keep-alive client sends its next request into a closed one.
    return JSONResponse(
        error_body("internal_error", "CT failed to handle this request; it was logged"),
        status_code=500,
        headers={"Connection": "close"},
    )
