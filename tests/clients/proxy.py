"""A local HTTP server in front of CT that answers from a script, then forwards.

Tests of the producer clients use it to make CT look down (503), busy (429 with
`Retry-After`), slow (longer than the client's timeout) or cut off (the connection closed with
no answer), and to see exactly what the client sent on each attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

FORWARDED_HEADERS = ("authorization", "content-type", "x-ct-signature", "x-ct-timestamp")


@dataclass(frozen=True)
class Answer:
    """Answer this status (after `delay` seconds) instead of forwarding."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


FORWARD = "forward"
DROP = "drop"  # close the connection without an answer
Step = Answer | str


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


class ScriptedProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.script: list[Step] = []  # one step per request, then `otherwise`
        self.otherwise: Step = FORWARD
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.handle_error = lambda *_: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def next_step(self, seen: Seen) -> Step:
        with self._lock:
            self.seen.append(seen)
            return self.script.pop(0) if self.script else self.otherwise

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                step = proxy.next_step(Seen(self.path, headers, body, time.monotonic()))
                if step == DROP:
                    self.close_connection = True
                    return
                if isinstance(step, Answer):
                    time.sleep(step.delay)
                    self._reply(
                        step.status,
                        {"Content-Type": "application/json", **step.headers},
                        b'{"error":{"code":"scripted","message":"from the test proxy"}}',
                    )
                    return
                sent = {k: v for k, v in headers.items() if k in FORWARDED_HEADERS}
                answer = httpx.post(
                    proxy.upstream + self.path, content=body, headers=sent, timeout=30
                )
                self._reply(
                    answer.status_code, {"Content-Type": "application/json"}, answer.content
                )

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    @contextmanager
    def running(self) -> Iterator[ScriptedProxy]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
