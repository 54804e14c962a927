"""The catalogue's `triggers` section: the allow-list of actions an operator may run.

Each trigger names its inputs (a JSON Schema), the target system and the HTTP call that does
the work, who may run it, the guards that must allow it, and how failed calls are retried.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from control_tower.auth.roles import Role
from control_tower.catalog.types import WEEKDAYS, ObjectSchema, Strict, ZoneName

TRIGGER_NAME = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Target(Strict):
    system: str = Field(description="The catalogue system that does the work.")
    action: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="Action name it runs.")
    url: str = Field(
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Where the worker sends the call; `trigger_target_base_url` can replace "
        "its scheme, host and port.",
    )
    method: Literal["POST", "PUT", "PATCH"] = "POST"


def _parse_days(value: Any) -> list[str]:
    """`mon-fri`, `[mon, wed]` or `mon,tue` into a list of day names."""
    parts = value if isinstance(value, list) else re.split(r"\s*,\s*", str(value).strip())
    days: list[str] = []
    for part in parts:
        text = str(part).strip().lower()
        if "-" in text:
            first, _, last = text.partition("-")
            if first not in WEEKDAYS or last not in WEEKDAYS:
                raise ValueError(f"unknown day in range {text!r}; use {'|'.join(WEEKDAYS)}")
            i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
            if j < i:
                raise ValueError(f"day range {text!r} runs backwards")
            days.extend(WEEKDAYS[i : j + 1])
        elif text in WEEKDAYS:
            days.append(text)
        else:
            raise ValueError(f"unknown day {text!r}; use {'|'.join(WEEKDAYS)}")
    if not days:
        raise ValueError("at least one day")
    return sorted(set(days), key=WEEKDAYS.index)


class FinanceWindow(Strict):
    """Local business hours in which the trigger may run (start inclusive, end exclusive)."""

    days: list[str] = Field(default_factory=lambda: list[str](WEEKDAYS[:5]))
    start: time = time(7, 0)
    end: time = time(19, 0)
    tz: ZoneName = "Europe/London"

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[str]:
        return _parse_days(value)

    @model_validator(mode="after")
    def _order(self) -> FinanceWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start (windows do not cross midnight)")
        return self


class RateLimit(Strict):
    per_hour: int = Field(ge=1, description="Most runs created in any rolling hour.")


class Guards(Strict):
    finance_window: FinanceWindow | None = None
    rate_limit: RateLimit | None = None


class Retry(Strict):
    """Exponential backoff with jitter: attempt n waits up to min(max, base * 2**(n-1))."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    base_seconds: float = Field(default=2.0, gt=0)
    max_seconds: float = Field(default=300.0, gt=0)


class Trigger(Strict):
    name: str = Field(pattern=TRIGGER_NAME)
    description: str = ""
    input_schema: ObjectSchema = Field(
        default_factory=lambda: {"type": "object", "additionalProperties": False}
    )
    target: Target
    required_role: Role = Role.operator
    guards: Guards = Field(default_factory=Guards)
    retry: Retry = Field(default_factory=Retry)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    dedupe_window_seconds: int = Field(
        default=600,
        ge=0,
        description="Without an Idempotency-Key, the same inputs within this window return "
        "the same run; 0 turns it off.",
    )

    @field_validator("required_role")
    @classmethod
    def _staff_role(cls, value: Role) -> Role:
        if value in (Role.producer, Role.viewer):
            raise ValueError("triggers need operator, maintainer or owner")
        return value


def trigger_reference_problems(
    entries: list[tuple[int, dict[str, Any]]], system_ids: set[Any]
) -> list[tuple[tuple[Any, ...], str]]:
    """Each trigger's target system must be in the catalogue (read from the raw mapping)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for i, entry in entries:
        target = entry.get("target")
        system = target.get("system") if isinstance(target, dict) else None
        if isinstance(system, str) and system not in system_ids:
            problems.append((("triggers", i, "target", "system"), f"unknown system {system!r}"))
    return problems
