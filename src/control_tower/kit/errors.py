"""Domain errors that carry their HTTP status; one handler turns them into the JSON error body."""

from __future__ import annotations

from typing import Any


class CTError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


class BadRequest(CTError):
    status_code = 400
    code = "bad_request"


class Unauthorized(CTError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CTError):
    status_code = 403
    code = "forbidden"


class NotFound(CTError):
    status_code = 404
    code = "not_found"


class Conflict(CTError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(CTError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(CTError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(CTError):
    status_code = 422
    code = "validation_failed"


class RateLimited(CTError):
    status_code = 429
    code = "rate_limited"


class Unavailable(CTError):
    status_code = 503
    code = "unavailable"


class StoreUnavailable(Unavailable):
    """The database could not be reached or refused the work; the caller may retry."""

    code = "store_unavailable"

    def __init__(self, message: str, *, retry_after_seconds: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after_seconds))
