"""A real HTTP target for trigger runs: verifies CT's signature, applies each run's effect once
per Idempotency-Key, and counts effects and deliveries.

Scripted behaviour, consumed one per request (then: apply and answer 200):
  503 / 400 / …   answer that status without applying
  "apply_503"     apply the effect, then answer 503 (the worker must retry; target dedupes)
  "hang"          apply the effect, signal `arrived`, block until `release` is set
  "slow"          signal `arrived`, block until `release`, then apply and answer 200
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from control_tower.kit.signing import signature_matches


@dataclass
class Delivery:
    path: str
    idempotency_key: str | None
    body: dict[str, Any]
    headers: dict[str, str]
    signature_ok: bool
    answered: int | None = None


@dataclass
class TargetState:
    secrets: dict[str, str]
    effects: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self) -> int | str | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    def apply(self, key: str) -> tuple[bool, int]:
        """Apply the effect unless this key already did; (applied now, effects for key)."""
        with self.lock:
            if key in self.effects:
                return False, self.effects[key]
            self.effects[key] = 1
            return True, 1

    def deliveries_for(self, key: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.idempotency_key == key]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_args: Any) -> None:  # quiet: the tests read deliveries instead
        return

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        # One server plays every target system: the path's last segment says whose secret.
        secret = state.secrets.get(self.path.rstrip("/").rsplit("/", 1)[-1], "")
        stamp = headers.get("x-ct-timestamp")
        fresh = stamp is not None and abs(time.time() - int(stamp)) <= 300
        ok = fresh and signature_matches(secret, raw, headers.get("x-ct-signature", ""), stamp)
        key = headers.get("idempotency-key")
        delivery = Delivery(self.path, key, json.loads(raw or b"{}"), headers, ok)
        with state.lock:
            state.deliveries.append(delivery)
        if not ok or not key:
            self._answer(delivery, 401, {"error": "bad signature"})
            return
        action = state.next_action()
        if isinstance(action, int):
            self._answer(delivery, action, {"error": f"scripted {action}"})
            return
        if action == "slow":
            state.arrived.set()
            state.release.wait(timeout=60)
        applied, count = state.apply(key)
        if action == "hang":
            state.arrived.set()
            state.release.wait(timeout=60)
        if action == "apply_503":
            self._answer(delivery, 503, {"error": "applied but answering 503"})
            return
        self._answer(
            delivery, 200, {"applied": applied, "effects": count, "items_pushed": 3, "ok": True}
        )

    def _answer(self, delivery: Delivery, status: int, body: dict[str, Any]) -> None:
        delivery.answered = status
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller went away (a killed or timed-out worker)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: TargetState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@dataclass
class Target:
    url: str
    state: TargetState

    @property
    def effects(self) -> dict[str, int]:
        return self.state.effects

    @property
    def deliveries(self) -> list[Delivery]:
        return self.state.deliveries


@contextmanager
def running_target(secrets: dict[str, str]) -> Iterator[Target]:
    """Serve on 127.0.0.1:<free port> in a thread. `secrets` maps the last path segment (the
    catalogue URL's action) to the secret of the system that owns it."""
    state = TargetState(secrets)
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Target(f"http://{host!s}:{port}", state)
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
