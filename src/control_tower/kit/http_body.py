"""Generic HTTP body helpers: a size-bounded read and strict JSON parsing.

Any route that takes a body reads it through `read_bounded_body` after its caller is
authenticated, so a stranger can neither make CT buffer a large body nor learn anything from
how it is parsed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from starlette.requests import Request

from control_tower.kit.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from control_tower.kit.json_text import may_hold_long_integer


def check_declared_size(request: Request, limit: int) -> None:
    """413 when Content-Length already says the body is over `limit` (nothing is read)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not (declared.isascii() and declared.isdigit()):
        raise BadRequest("Content-Length is not a number")
    if int(declared) > limit:
        raise PayloadTooLarge(
            f"body of {int(declared)} bytes is over the limit of {limit} bytes",
            details={"limit_bytes": limit},
        )


async def read_bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes (chunked too)."""
    check_declared_size(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"body is over the limit of {limit} bytes", details={"limit_bytes": limit}
            )
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {content_type or 'missing'!r}"
        )


def _reject_float_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


MAX_JSON_DEPTH = 64


def parse_json(body: bytes) -> Any:
    # orjson turns an integer too long for 64 bits into a float: such bodies take the stdlib.
    if not may_hold_long_integer(body):
        # orjson (C) refuses NaN, infinities, 1e400, invalid UTF-8 and lone surrogates itself,
        # so the walk below is needed only when the body could nest too deep or hold U+0000.
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):
                raise _too_deep() from exc
            raise BadRequest(f"body is not valid JSON: {exc}", code="malformed_json") from exc
        if b"\\u0000" in body:
            _check_json_values(value)
        elif body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
            _check_depth(body)
        return value
    try:
        value = json.loads(body, parse_constant=_reject_float_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="malformed_json") from exc
    except RecursionError as exc:
        raise _too_deep() from exc
    _check_json_values(value)
    return value


def _too_deep() -> BadRequest:
    return BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", code="json_too_deep")


def _check_json_values(value: Any) -> None:
    """Refuse what parses but cannot be hashed, validated or stored alike on both stores.

    Deep nesting would exhaust the recursion of validation and redaction; a lone surrogate
    (`"\\ud800"`) is not Unicode and cannot be encoded; PostgreSQL cannot store U+0000; an
    out-of-range number (`1e400`) parses as infinity, which canonical JSON refuses.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            # 1e400 parses as infinity without passing through parse_constant.
            raise BadRequest("body is not valid JSON: number out of range", code="malformed_json")


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# Depth does not care which bracket: "[" and "]" become "{" and "}".
_BRACKETS_AS_BRACES = bytes.maketrans(b"[]", b"{}")


def _check_depth(body: bytes) -> None:
    """The nesting limit alone, on the raw body (orjson has checked the rest).

    Valid JSON has backslashes only in strings' escapes: dropping `\\` then `\"` leaves
    quotes that only open and close strings, alternately. Keeping quotes and brackets alone,
    two adjacent quotes are an empty string or join two strings, so dropping them keeps the
    rest as it was; what is left between quotes is inside strings. The brackets outside remain,
    and each `replace("{}", "")` removes the innermost level of pairs (it never rescans what it
    joined): the depth is the number of passes until nothing is left. All C-speed work on a
    body that shrinks at each step, where walking the parsed containers of a batch cost more
    than parsing it.
    """
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    structure = unescaped.translate(_BRACKETS_AS_BRACES, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = b"".join(structure.split(b'"')[::2]) if b'"' in structure else structure
    for _ in range(MAX_JSON_DEPTH):
        if not brackets:
            return
        brackets = brackets.replace(b"{}", b"")
    if brackets:
        raise _too_deep()


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BadRequest("strings may not contain U+0000", code="unsupported_character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(
            "body is not valid JSON: a string holds a lone surrogate", code="malformed_json"
        ) from exc
