"""When to try again: exponential backoff with jitter, and CT's `Retry-After`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: attempt n waits a random time in [c/2, c], where
    c = min(maximum, initial × multiplier^(n-1)), so producers that failed together do not
    retry together. A `Retry-After` from CT replaces it (plus up to `initial` of jitter); one
    longer than `maximum` ends the attempts at once rather than retrying early."""

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if retry_after is not None:
            if retry_after > self.maximum:
                return None
            return retry_after + random.uniform(0, self.initial)
        ceiling = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def is_retryable(status_code: int) -> bool:
    """CT says to retry 429 and every 5xx with the same event id (docs/ingest.md §4)."""
    return status_code == 429 or status_code >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
