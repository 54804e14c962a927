"""Common canonical types (DESIGN §2): Money, identifiers, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"

Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=128,
        description="An id: letters, digits and . _ : - (at most 128 characters).",
    ),
]


def _require_zone(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset, e.g. 2026-11-26T08:00:00Z")
    try:
        value.astimezone(UTC)  # 0001-01-01T00:00+01:00 has no UTC instant in Python's range
    except OverflowError as exc:
        raise ValueError("timestamp is out of range once converted to UTC") from exc
    return value


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_require_zone),
    Field(description="ISO-8601 timestamp with a UTC offset."),
]


class Money(BaseModel):
    """Money in minor units (pence for GBP): never a float."""

    model_config = ConfigDict(extra="forbid", title="Money")

    amount_minor: StrictInt = Field(description="Amount in minor units, e.g. pence.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. GBP.")
