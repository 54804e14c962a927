"""Plain ASGI middleware that refuses U+0000 anywhere in a request's path or query string.

PostgreSQL cannot store or compare text holding U+0000, and no identifier or filter of CT's
has one: refused here, once, every route and page answers 400 instead of a store error.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from control_tower.kit.errors import error_body


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _holds_nul(scope):
            body = error_body("unsupported_character", "the URL may not contain U+0000")
            await JSONResponse(body, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query: bytes = scope.get("query_string", b"")
    return any(b"\x00" in unquote_to_bytes(part) for part in (raw_path, query)) or (
        "\x00" in scope["path"]
    )
