"""The nesting check on raw bytes agrees with a walk over the parsed value."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from control_tower.kit.errors import BadRequest
from control_tower.kit.http_body import MAX_JSON_DEPTH, _check_depth

# Strings full of what the byte-level check must see through: brackets, quotes, escapes.
TRICKY = ['a\\"[{', "}]\\", 1, None, "", '"', "x\\\\", "[]", '\\"]', "é{", "\n[\t"]


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def spine(rng: random.Random, levels: int) -> Any:
    """A value `levels` deep along one path, with shallow side branches at every level."""
    value: Any = rng.choice(TRICKY)
    for _ in range(levels):
        side = rng.choice([[], ["[", {"}": "\\"}], {"a": []}, "{{", '"]"'])
        if rng.random() < 0.5:
            value = [side, value] if rng.random() < 0.5 else [value, side]
        else:
            value = {rng.choice(["k", "[", '}"', "\\", '\\\\"']): value, "s": side}
    return value


def passes(body: bytes) -> bool:
    try:
        _check_depth(body)
    except BadRequest as exc:
        code = exc.code
    else:
        return True
    assert code == "json_too_deep"
    return False


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_a_walk_around_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    verdicts = set()
    for _ in range(400):
        value = spine(rng, rng.randint(MAX_JSON_DEPTH - 8, MAX_JSON_DEPTH + 8))
        body = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        expected = depth(value) <= MAX_JSON_DEPTH
        assert passes(body) is expected, body[:200]
        verdicts.add(expected)
    assert verdicts == {True, False}  # both sides of the limit were tried


def test_exactly_at_the_limit() -> None:
    assert passes(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not passes(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    # Brackets inside strings are not nesting.
    assert passes(json.dumps(["[" * 200, {"k": "{" * 200}]).encode())
