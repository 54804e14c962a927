"""Canonical JSON keeps the stdlib's exact bytes whichever encoder writes them.

Stored event hashes and the audit chain were computed with `json.dumps`; the orjson fast path
must give the same bytes for everything it handles and hand the rest to the stdlib.
"""

from __future__ import annotations

import enum
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from control_tower.kit.canonical import canonical_json, may_hold_float, stdlib_canonical_json


class Colour(enum.StrEnum):
    RED = "red"


def corpus() -> list[Any]:
    rnd = random.Random(7)
    values: list[Any] = [chr(c) for c in range(0x800)]
    values += [{chr(c): c, "a": chr(c) * 3} for c in range(0, 0x800, 7)]
    values += [chr(c) for c in (0x2028, 0x2029, 0xFEFF, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF)]
    for _ in range(2000):
        keys = [
            "".join(
                chr(rnd.choice([rnd.randint(32, 126), rnd.randint(0x80, 0xD7FF),
                                rnd.randint(0x10000, 0x10FFFF)]))
                for _ in range(rnd.randint(0, 4))
            )
            for _ in range(5)
        ]  # fmt: skip
        values.append({k: [i, None, True, False, "x", {"n": -i}] for i, k in enumerate(keys)})
    values += [0, -1, 2**63 - 1, -(2**63), 2**64, 10**30, -(10**30)]
    values += [0.5, -0.0, 1e-05, 2.5e-05, 1e16, 1e15, 123.456, 1.5e300, 5e-324]
    values += [{"amount_minor": 1999, "currency": "GBP", "ratio": 0.00001, "v": "1.2.3"}]
    values += [[1, [2, [3, {"z": 1, "a": 2}]]], (1, "tuple"), {"e": "1e5 and 2.5"}]
    # Floats beside strings that look like them, with and without escapes in the strings.
    values += [
        {"id": "3e9a1c2e-7d4f", "at": "2026-11-26T09:59:00.123Z", "x": x, "q": q}
        for x in (1, 1.5, 2e-07, -3.25e300, [0.1], {"k1e": 7})
        for q in ("plain", 'say "1.5"', "back\\slash 2e5", "tab\t9.9", "\u00e9 1e3")
    ]
    return values


def test_fast_and_stdlib_bytes_agree_on_every_value() -> None:
    for value in corpus():
        assert canonical_json(value) == stdlib_canonical_json(value), repr(value)


@pytest.mark.parametrize(
    "value",
    [
        {"when": datetime(2026, 11, 26, tzinfo=UTC)},
        {1: "int key"},
        {"s": "\ud800"},
        {"c": Colour.RED},
    ],
    ids=["datetime", "int key", "lone surrogate", "str enum"],
)
def test_what_the_stdlib_refuses_or_converts_is_left_to_it(value: Any) -> None:
    try:
        expected: bytes | type[Exception] = stdlib_canonical_json(value)
    except (TypeError, ValueError) as exc:
        expected = type(exc)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            canonical_json(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"event_id": "3e9a1c2e-7d4f", "at": "2026-11-26T09:59:00.123Z", "n": 12}, False),
        ({"k1e5": "v2.0", "n": [1, 2, -3]}, False),
        ({"n": 1.5}, True),
        ({"s": "x", "n": [2e-07]}, True),
        ({"s": 'a "quoted" 1.5', "n": 1}, True),  # an escape: the whole text is searched
    ],
)
def test_only_numbers_outside_strings_send_a_document_to_the_stdlib(
    value: Any, expected: bool
) -> None:
    assert may_hold_float(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)) is expected
