"""What the catalogue's sections share: a strict model base, object JSON Schemas, time zones,
weekdays."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator, validators
from jsonschema._types import TypeChecker
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Indexed by `date.weekday()` (Monday is 0).
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _strict_integer(_checker: TypeChecker, instance: Any) -> bool:
    # JSON Schema calls 1.0 an integer; money and counts here must be real integers.
    return isinstance(instance, int) and not isinstance(instance, bool)


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern in Python's dialect: `$` ends the text, where Python's
    `$` also matches before a final newline (so `^[A-Z]{3}$` would take "GBP\\n")."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return "".join(out)


def _pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Any:
    if validator.is_type(instance, "string") and not re.search(ecma_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The JSON Schema dialect of the catalogue's payload and trigger input schemas.
StrictValidator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


class Strict(BaseModel):
    """A catalogue section: an unknown key is an error, reported with its path."""

    model_config = ConfigDict(extra="forbid")


def _object_schema(value: dict[str, Any]) -> dict[str, Any]:
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from exc
    if value.get("type") != "object":
        raise ValueError("the schema must describe an object (type: object)")
    return value


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


ObjectSchema = Annotated[dict[str, Any], AfterValidator(_object_schema)]
ZoneName = Annotated[str, AfterValidator(_zone_name)]
