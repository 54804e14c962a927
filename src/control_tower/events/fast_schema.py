"""A fast yes/no check for the simple JSON Schemas catalogues use; jsonschema stays the judge.

`jsonschema` costs ≈ 15 µs for a three-field payload, most of it machinery (`evolve`,
`descend`), which made payload validation the largest cost of batch ingest. `compile_check`
turns a schema built only from the keywords below into one plain Python function; any other
keyword (or a shape it does not handle) makes it return None and the caller uses jsonschema
alone. The predicate is only trusted when it says *valid*: on *invalid*, jsonschema runs and
writes the error messages. `tests/events/test_fast_schema.py` checks both agree.

Supported: type, properties, required, additionalProperties (boolean), enum (of strings),
pattern, minLength, maxLength, minimum, maximum, and the annotations below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"title", "description", "$comment", "examples", "default", "deprecated"}
_SUPPORTED = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
}


# Each type as an expression over the checked value `{v}`. Integers are real JSON integers
# here (1.0 is not one), as in validation.py.
_TYPES: dict[str, str] = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
    "number": "(isinstance({v}, int | float) and not isinstance({v}, bool))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}


class _Unsupported(Exception):
    pass


class _Writer:
    """Writes one function's source: `return False` at the first failed keyword."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {"_MISSING": object()}
        self._names = 0

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: Any) -> str:
        # Values (property names, patterns, limits) travel as names, never as source text.
        name = self.name("_c")
        self.constants[name] = value
        return name

    def fail_if(self, condition: str, indent: int) -> None:
        self.lines.append(f"{'    ' * indent}if {condition}:")
        self.lines.append(f"{'    ' * (indent + 1)}return False")


def compile_check(schema: Any) -> Check | None:
    """A predicate that is True only for instances the schema accepts, or None.

    The schema becomes the source of one Python function (one call per payload instead of a
    closure per keyword and field: a third of the time for the catalogue's payloads)."""
    writer = _Writer()
    try:
        _write(writer, schema, "v", 1)
    except _Unsupported:
        return None
    source = "def check(v):\n" + "\n".join([*writer.lines, "    return True"])
    namespace = dict(writer.constants)
    # The source is built above from fixed fragments; the schema's values are constants.
    exec(compile(source, "<fast_schema>", "exec"), namespace)
    check: Check = namespace["check"]
    return check


def _write(w: _Writer, schema: Any, v: str, indent: int) -> None:
    if schema is True or schema == {}:
        return
    if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
        raise _Unsupported
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(not isinstance(n, str) or n not in _TYPES for n in names):
            raise _Unsupported
        w.fail_if("not (" + " or ".join(_TYPES[n].format(v=v) for n in names) + ")", indent)
    if "enum" in schema:
        allowed = schema["enum"]
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise _Unsupported
        w.fail_if(f"not (isinstance({v}, str) and {v} in {w.constant(frozenset(allowed))})", indent)
    _write_string(w, schema, v, indent)
    _write_number(w, schema, v, indent)
    _write_object(w, schema, v, indent)


def _write_string(w: _Writer, schema: dict[str, Any], v: str, indent: int) -> None:
    if "pattern" in schema:
        search = w.constant(re.compile(schema["pattern"]).search)
        w.fail_if(f"isinstance({v}, str) and {search}({v}) is None", indent)
    if "minLength" in schema:
        low = w.constant(_whole(schema["minLength"]))
        w.fail_if(f"isinstance({v}, str) and len({v}) < {low}", indent)
    if "maxLength" in schema:
        high = w.constant(_whole(schema["maxLength"]))
        w.fail_if(f"isinstance({v}, str) and len({v}) > {high}", indent)


def _write_number(w: _Writer, schema: dict[str, Any], v: str, indent: int) -> None:
    is_number = _TYPES["number"].format(v=v)
    for keyword, op in (("minimum", "<"), ("maximum", ">")):
        if keyword in schema:
            bound = schema[keyword]
            if not (isinstance(bound, int | float) and not isinstance(bound, bool)):
                raise _Unsupported
            w.fail_if(f"{is_number} and {v} {op} {w.constant(bound)}", indent)


def _write_object(w: _Writer, schema: dict[str, Any], v: str, indent: int) -> None:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    additional = schema.get("additionalProperties", True)
    if not isinstance(properties, dict):
        raise _Unsupported
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _Unsupported
    if additional is not True and additional is not False:
        raise _Unsupported
    if not (properties or required or additional is False):
        return
    w.lines.append(f"{'    ' * indent}if isinstance({v}, dict):")
    inner = indent + 1
    before = len(w.lines)
    if required:
        w.fail_if(f"not {w.constant(frozenset(required))} <= {v}.keys()", inner)
    if additional is False:
        w.fail_if(f"not {v}.keys() <= {w.constant(frozenset(properties))}", inner)
    for name, sub in properties.items():
        item = w.name("x")
        at = len(w.lines)
        w.lines.append(f"{'    ' * inner}{item} = {v}.get({w.constant(name)}, _MISSING)")
        w.lines.append(f"{'    ' * inner}if {item} is not _MISSING:")
        checks = len(w.lines)
        _write(w, sub, item, inner + 1)
        if len(w.lines) == checks:  # nothing to check for this property
            del w.lines[at:]
    if len(w.lines) == before:
        w.lines.append(f"{'    ' * inner}pass")


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Unsupported
    return value
