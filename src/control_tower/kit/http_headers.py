"""Request headers by name from the ASGI scope, looked up in a dict built once per request.

Starlette's `request.headers.get(name)` lower-cases and encodes the name and walks every header
on each call; ingest reads five headers per request and the request context one more. ASGI
servers give header names in lower case; when a name repeats, the first one counts, as with
Starlette's `get`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

_KEY = "ct.headers"


def header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes) in an ASGI scope, or None."""
    found: dict[bytes, bytes] | None = scope.get(_KEY)
    if found is None:
        pairs = scope["headers"]  # any iterable of pairs, by the ASGI spec; uvicorn's a list
        found = scope[_KEY] = dict(reversed(pairs if isinstance(pairs, list) else list(pairs)))
    value = found.get(name)
    return None if value is None else value.decode("latin-1")
