"""One JSON error body for every failure: domain errors, validation, routing, crashes."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from control_tower.kit.errors import CTError, error_body

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
    @app.exception_handler(CTError)
    async def _ct_error(_request: Request, exc: CTError) -> JSONResponse:
        return ct_error_response(exc)

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
    return JSONResponse(
        error_body("internal_error", "CT failed to handle this request; it was logged"),
        status_code=500,
    )
