"""Plain ASGI middleware: browser security headers on every answer, pages and API alike.

The UI runs no script at all and loads only its own stylesheet, so one strict policy fits
every answer; a response that needs another (the API docs pages) sets its own
Content-Security-Policy, which is kept. The other headers are always these.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No plugins, no framing, no <base>, forms post only to CT: every policy CT sends ends so.
LOCKDOWN_DIRECTIVES = (
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
CONTENT_SECURITY_POLICY = f"default-src 'self'; {LOCKDOWN_DIRECTIVES}"
FIXED_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
_FIXED_NAMES = frozenset(name for name, _ in FIXED_HEADERS)
_CSP = b"content-security-policy"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.policy = (_CSP, policy.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._with_headers(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _with_headers(self, given: Any) -> list[tuple[bytes, bytes]]:
        headers = list(given)
        names = {name.lower() for name, _ in headers}
        if not names.isdisjoint(_FIXED_NAMES):
            headers = [pair for pair in headers if pair[0].lower() not in _FIXED_NAMES]
        if _CSP not in names:
            headers.append(self.policy)
        headers += FIXED_HEADERS
        return headers
