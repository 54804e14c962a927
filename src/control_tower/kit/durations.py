"""Durations written the way Alertmanager and Prometheus users write them: `30s`, `5m`, `4h`,
`1h30m`, `2d`, `1w` (a bare number is seconds)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+)([smhdw])")
DURATION_PATTERN = r"^([0-9]+[smhdw])+$"


def parse_duration(value: Any) -> timedelta:
    """`1h30m` → 5400 s; an int or float is seconds; a timedelta is kept. ValueError else."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value.strip()):
        seconds = float(sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value.strip())))
    else:
        raise ValueError(f"not a duration: {value!r}; write e.g. 30s, 5m, 4h, 1h30m, 2d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"duration {value!r} is too long") from exc


def format_duration(value: timedelta) -> str:
    """The shortest `1h30m`-style text for a whole number of seconds (`0s` for zero)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if unit == "w":
            continue  # weeks read worse than days in messages
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# A catalogue or API field holding a duration: `5m` in YAML, a timedelta in Python, `5m` out.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["5m", "4h"]}),
]
