"""Common canonical types (DESIGN §2): Money, identifiers, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"

Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=128,
        description="An id: letters, digits and . _ : - (at most 128 characters).",
    ),
]


# The instants every offset can reach without leaving Python's datetime range (year 1 to
# 9999 in UTC): 0001-01-01T00:00+01:00 has no UTC instant, nor has 9999-12-31T23:59-01:00.
# Checked by pydantic-core itself (AwareDatetime and these bounds), not by a Python validator
# per timestamp: every event carries one, and that validator was a third of an envelope's cost.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _not_a_number(value: Any) -> Any:
    # pydantic would read a number as unix seconds; timestamps here are ISO-8601 text.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO-8601 timestamp with a UTC offset, not a number")
    return value


# The bounds come before the number check: after it, pydantic would apply them as Python
# functions instead of in its own datetime check (three times the cost of a timestamp).
UtcDatetime = Annotated[
    AwareDatetime,
    Field(ge=_EARLIEST, le=_LATEST, description="ISO-8601 timestamp with a UTC offset."),
    BeforeValidator(_not_a_number),
]


class Money(BaseModel):
    """Money in minor units (pence for GBP): never a float."""

    model_config = ConfigDict(extra="forbid", title="Money")

    amount_minor: StrictInt = Field(
        ge=-(2**63), lt=2**63, description="Amount in minor units, e.g. pence (signed 64-bit)."
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. GBP.")
