"""Opaque keyset cursors: base64 of a small JSON list, never an offset."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

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


# A sequence number is a positive BIGINT on every store.
MAX_SEQ = 2**63


def decode_seq_cursor(cursor: str | None) -> int | None:
    """The sequence number a list page ended at, or None for the first page.

    Every keyset list here pages by one sequence column; a forged cursor (not a positive
    BIGINT, or a bool, which Python counts as an int) is a 400, never a store error.
    """
    if not cursor:
        return None
    key = decode_cursor(cursor)
    seq = key[0] if len(key) == 1 else None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < MAX_SEQ:
        raise BadRequest("cursor is not one this server issued", code="bad_cursor")
    return seq


class _HasSeq(Protocol):
    @property
    def seq(self) -> int: ...


Row = TypeVar("Row", bound=_HasSeq)


def seq_page(
    fetch: Callable[[int, int | None], Sequence[Row]], limit: int, cursor: str | None
) -> tuple[Sequence[Row], str | None]:
    """One keyset page, newest first by a sequence column, and the next page's cursor.

    `fetch(n, before)` returns up to n rows with seq < before (all when before is None); one
    row past the page says whether another page follows.
    """
    rows = fetch(limit + 1, decode_seq_cursor(cursor))
    page = rows[:limit]
    return page, encode_cursor([page[-1].seq]) if len(rows) > limit else None
