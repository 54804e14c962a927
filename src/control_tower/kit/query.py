"""Query parameters every route reads the same way, checked in one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _iso_text_only(value: Any) -> Any:
    # pydantic would also read a number ("0.5", 1764150000) as unix seconds; the API promises
    # ISO-8601 with an offset, nothing else.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO-8601 timestamp with a UTC offset")
    if isinstance(value, int | float):
        raise ValueError("must be an ISO-8601 timestamp with a UTC offset, not a number")
    return value


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset (e.g. Z or +01:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no instant in UTC
        raise ValueError("is out of range") from exc


# An instant in a query (`since`, `until`): ISO-8601 text with an offset, answered in UTC.
UtcInstant = Annotated[datetime, BeforeValidator(_iso_text_only), AfterValidator(_in_utc)]
