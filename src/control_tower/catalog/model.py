"""The catalogue's shape.

Pydantic checks each entry; `Catalog.reference_problems` checks how entries refer to each other.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG = r"^[a-z][a-z0-9_-]{0,31}$"
EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(Strict):
    id: str = Field(pattern=SLUG)
    description: str = ""


class EventType(Strict):
    type: str = Field(pattern=EVENT_TYPE)
    description: str = ""
    sources: list[str] = Field(
        default_factory=list, description="Sources allowed to send it; empty means any."
    )
    payload_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    @field_validator("payload_schema")
    @classmethod
    def _valid_json_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from exc
        if value.get("type") != "object":
            raise ValueError("payload_schema must describe an object (type: object)")
        return value


class System(Strict):
    id: str = Field(pattern=SLUG)
    name: str
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


class Catalog(Strict):
    version: int = 1
    organisation: str = ""
    sources: list[Source]
    systems: list[System] = Field(default_factory=list)
    event_types: list[EventType] = Field(default_factory=list)

    @cached_property
    def _types(self) -> dict[str, EventType]:
        # A cached_property, not a PrivateAttr: reading a private attribute goes through
        # pydantic's __getattr__ (≈ 3 µs), and ingest looks a type up for every event.
        return {t.type: t for t in self.event_types}

    def reference_problems(self) -> list[tuple[tuple[Any, ...], str]]:
        """Problems pydantic cannot see alone: duplicate ids and references to unknown ones."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        source_ids = [s.id for s in self.sources]
        problems += _duplicates("sources", source_ids)
        problems += _duplicates("systems", [s.id for s in self.systems])
        problems += _duplicates("event_types", [t.type for t in self.event_types], key="type")
        known = set(source_ids)
        for i, system in enumerate(self.systems):
            for j, src in enumerate(system.sources):
                if src not in known:
                    problems.append((("systems", i, "sources", j), f"unknown source {src!r}"))
        for i, etype in enumerate(self.event_types):
            for j, src in enumerate(etype.sources):
                if src not in known:
                    problems.append((("event_types", i, "sources", j), f"unknown source {src!r}"))
        return problems

    def event_type(self, name: str) -> EventType | None:
        return self._types.get(name)

    def source_ids(self) -> set[str]:
        return {s.id for s in self.sources}


def _duplicates(section: str, ids: list[str], key: str = "id") -> list[tuple[tuple[Any, ...], str]]:
    seen: set[str] = set()
    found = []
    for i, value in enumerate(ids):
        if value in seen:
            found.append(((section, i, key), f"duplicate {key} {value!r}"))
        seen.add(value)
    return found
