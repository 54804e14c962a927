"""JSON text for the store: orjson (C) where it gives the same values back, the stdlib elsewhere.

orjson reads an integer too long for 64 bits as a float and refuses to write one; such
documents, rare, take the stdlib. Found by mapping every ASCII digit to "0" (bytes.translate,
C speed) and searching for 19 in a row: a regex search for \\d{19} cost more than the parse.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes(ord("0") if 48 <= b <= 57 else ord(" ") for b in range(256))
_NINETEEN_DIGITS = b"0" * 19


def may_hold_long_integer(data: bytes) -> bool:
    """False only if `data` has no run of 19 digits, so no integer orjson would mangle."""
    return _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZERO)


def dumps_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def loads_text(text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    if may_hold_long_integer(data):
        return json.loads(data)
    return orjson.loads(data)
