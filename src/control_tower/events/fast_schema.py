"""A fast yes/no check for the simple JSON Schemas catalogues use; jsonschema stays the judge.

`jsonschema` costs ≈ 15 µs for a three-field payload, most of it machinery (`evolve`,
`descend`), which made payload validation the largest cost of batch ingest. `compile_check`
turns a schema built only from the keywords below into a plain Python predicate; any other
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # Integers are real JSON integers here (1.0 is not one), as in validation.py.
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A predicate that is True only for instances the schema accepts, or None."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda _v: True
    if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
        raise _Unsupported
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(name not in _TYPES for name in names):
            raise _Unsupported
        checks.append(_TYPES[names[0]] if len(names) == 1 else _any_of(names))
    if "enum" in schema:
        allowed = schema["enum"]
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise _Unsupported
        allowed_set = frozenset(allowed)
        checks.append(lambda v: isinstance(v, str) and v in allowed_set)
    checks += _string_checks(schema)
    checks += _number_checks(schema)
    checks += _object_checks(schema)
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    # Plain loops, not all(<generator>): this runs for every field of every event.
    if not checks:
        return lambda _v: True
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True

    return every


def _any_of(names: list[str]) -> Check:
    tests = [_TYPES[name] for name in names]

    def some(value: Any) -> bool:
        for test in tests:
            if test(value):
                return True
        return False

    return some


def _string_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: not isinstance(v, str) or search(v) is not None)
    if "minLength" in schema:
        low = _whole(schema["minLength"])
        checks.append(lambda v: not isinstance(v, str) or len(v) >= low)
    if "maxLength" in schema:
        high = _whole(schema["maxLength"])
        checks.append(lambda v: not isinstance(v, str) or len(v) <= high)
    return checks


def _number_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "minimum" in schema:
        low = schema["minimum"]
        if not _is_number(low):
            raise _Unsupported
        checks.append(lambda v: not _is_number(v) or v >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        if not _is_number(high):
            raise _Unsupported
        checks.append(lambda v: not _is_number(v) or v <= high)
    return checks


def _object_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise _Unsupported
    compiled = [(name, _compile(sub)) for name, sub in properties.items()]
    if compiled:

        def properties_ok(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name, check in compiled:
                if name in v and not check(v[name]):
                    return False
            return True

        checks.append(properties_ok)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _Unsupported
    if required:
        needed = frozenset(required)
        checks.append(lambda v: not isinstance(v, dict) or needed.issubset(v))
    additional = schema.get("additionalProperties", True)
    if additional is False:
        known = frozenset(properties)
        checks.append(lambda v: not isinstance(v, dict) or known.issuperset(v))
    elif additional is not True:
        raise _Unsupported
    return checks


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Unsupported
    return value
