"""What `send` raises. Every error names the event ids concerned, so a caller can retry later
with the same ids (a retry with a new id could store the event twice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ct_producer._events import Event


class CTError(Exception):
    """Base class of the errors this client raises."""


class DeliveryError(CTError):
    """CT did not acknowledge the event(s) after every attempt (5xx, 429, timeouts, lost
    connections). CT may or may not have stored them: re-send `events` (the same ids and
    content, `occurred_at` included) with `send_batch(error.events)`, and CT keeps each once."""

    def __init__(
        self,
        message: str,
        *,
        event_ids: tuple[str, ...],
        attempts: int,
        events: tuple[Event, ...] = (),
    ) -> None:
        super().__init__(message)
        self.event_ids = event_ids
        self.attempts = attempts
        self.events = events


class RejectedError(CTError):
    """CT refused the request with a 4xx other than 429: retrying it unchanged cannot help.
    `code` is CT's error code (`validation_failed`, `wrong_source`, …; docs/ingest.md §7)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        event_ids: tuple[str, ...],
        details: Any = None,
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.event_ids = event_ids
        self.details = details


class ConflictError(RejectedError):
    """409 `event_id_conflict`: the id was already used for different content."""


class AuthenticationError(RejectedError):
    """401: the token, the signature or the timestamp was refused. Spooled events stay in the
    spool: they are not at fault, the credentials (or the clock) are."""


def rejected_error(status_code: int, body: Any, event_ids: tuple[str, ...]) -> RejectedError:
    """The typed error for a 4xx answer whose body is CT's `{"error": {...}}`."""
    error: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
    code = str(error.get("code") or f"http_{status_code}")
    message = str(error.get("message") or "")
    kind = {409: ConflictError, 401: AuthenticationError}.get(status_code, RejectedError)
    return kind(status_code, code, message, event_ids=event_ids, details=error.get("details"))
