"""The fast payload check never calls valid what jsonschema calls invalid (nor the reverse)."""

from __future__ import annotations

from typing import Any

import pytest

from control_tower.catalog import load_default_catalog
from control_tower.events.fast_schema import compile_check
from control_tower.events.validation import _StrictValidator

SAMPLES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 0.5, 2.5, "", "x", "2026-11", "2026-W48", "GBP", "gbp",
    "low", "critical", "LOW", [], ["a"], {}, {"a": 1}, "a" * 129, 10**20,
    {"amount_minor": 100, "currency": "GBP"}, {"amount_minor": 1.5, "currency": "GBP"},
    {"amount_minor": True, "currency": "GBP"}, {"amount_minor": 1, "currency": "GBP", "x": 1},
    {"amount_minor": 1},
]  # fmt: skip

EXTRA_SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"n": {"type": "number", "minimum": 0, "maximum": 1}}},
    {"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 3}}},
    {"type": "object", "properties": {"p": {"pattern": "^a"}}},
    {"type": "object", "properties": {"e": {"enum": ["x", "y"]}}, "required": ["e"]},
    {"type": "object", "additionalProperties": False, "properties": {"k": {}}},
    {"type": "object", "properties": {"b": {"type": ["boolean", "null"]}}},
    # Nested objects, names that would break generated source if written into it, no checks.
    {
        "type": "object",
        "properties": {
            "k": {
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
            'we"ird\n': {"type": "string"},
            "e": {},
        },
    },
    {"required": ["s"]},
    {"type": ["integer", "string"], "maximum": 5, "maxLength": 2},
]


def payloads() -> list[dict[str, Any]]:
    """Each sample under each field name any schema uses, plus a few whole objects."""
    names = {"e", "k", "n", "s", "p", "b", "other", 'we"ird\n'}
    for etype in load_default_catalog().event_types:
        names.update(etype.payload_schema.get("properties", {}))
    out: list[dict[str, Any]] = [{}, {"k": {"n": 2}}, {"k": {"n": 0}}, {"k": {"n": 2, "m": 1}}]
    for name in sorted(names):
        out += [{name: value} for value in SAMPLES]
    return out


def schemas() -> list[dict[str, Any]]:
    return [t.payload_schema for t in load_default_catalog().event_types] + EXTRA_SCHEMAS


def complete(schema: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with every required field filled from a valid-looking default."""
    filled = dict.fromkeys(schema.get("required", []), "2026-11")
    return {**filled, **payload}


@pytest.mark.parametrize("schema", schemas(), ids=lambda s: ",".join(s.get("properties", {})))
def test_fast_check_agrees_with_jsonschema(schema: dict[str, Any]) -> None:
    fast = compile_check(schema)
    assert fast is not None, "every default catalogue schema should have a fast check"
    validator = _StrictValidator(schema)
    for raw in payloads():
        for payload in (raw, complete(schema, raw)):
            assert fast(payload) == validator.is_valid(payload), (schema, payload)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"format": "email"}}},
        {"type": "object", "patternProperties": {"^x": {}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}},
    ],
)
def test_unsupported_keywords_fall_back_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_check(schema) is None
