"""Opaque keyset cursors: base64 of a small JSON list, never an offset."""

from __future__ import annotations

import base64
import json
from typing import Any

from control_tower.kit.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise BadRequest("cursor is not one this server issued", code="bad_cursor") from exc
    if not isinstance(value, list):
        raise BadRequest("cursor is not one this server issued", code="bad_cursor")
    return value
