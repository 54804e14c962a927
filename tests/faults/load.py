"""Producer load for fault tests: threads posting signed events, every answer recorded.

Each thread sends single events (`POST /events`) and, every few requests, a small batch
(`POST /events/batch`), each event with an id never used before. A `Sent` keeps the exact body
so an unacknowledged request can be sent again as is, the way a producer retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.helpers import Producer, make_event
from tests.servers import CTServer

ACKNOWLEDGED = {200, 202}  # 202 accepted, 200 duplicate of a stored event
REQUEST_TIMEOUT_SECONDS = 10.0
BATCH_EVERY = 4  # every 4th request of a thread is a batch …
BATCH_SIZE = 3  # … of 3 events
PAUSE_AFTER_REFUSAL_SECONDS = 0.02  # producers back off a little; keeps the resend list short


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer (connection refused, reset, timeout)
    code: str | None = None  # the error code of a 4xx/5xx, or the transport error's class
    retry_after: str | None = None
    items: dict[str, int] = field(default_factory=dict)  # event_id -> status, for a 2xx


@dataclass
class Sent:
    path: Literal["/events", "/events/batch"]
    ids: list[str]
    body: bytes
    sent_at: float  # time.monotonic()
    answered_at: float
    answer: Answer

    @property
    def acknowledged(self) -> bool:
        return self.answer.status in ACKNOWLEDGED and all(
            status in ACKNOWLEDGED for status in self.answer.items.values()
        )


def client(server: CTServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS)


def post(http: httpx.Client, producer: Producer, path: str, body: bytes) -> Answer:
    try:
        response = http.post(path, content=body, headers=producer.headers(body))
    except httpx.TransportError as exc:
        return Answer(None, type(exc).__name__)
    return read_answer(response)


def read_answer(response: httpx.Response) -> Answer:
    answer = Answer(response.status_code, retry_after=response.headers.get("retry-after"))
    try:
        body: Any = response.json()
    except ValueError:
        answer.code = "not_json"
        return answer
    if response.status_code >= 400:
        answer.code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    elif "results" in body:
        answer.items = {item["event_id"]: item["status"] for item in body["results"]}
    else:
        answer.items = {body["event_id"]: response.status_code}
    return answer


class ProducerLoad:
    """`threads` producers posting to `server` until `stop()`; `sent` holds every request."""

    def __init__(self, server: CTServer, producer: Producer, prefix: str, threads: int) -> None:
        self._server = server
        self._producer = producer
        self._prefix = prefix
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self._errors: list[Exception] = []
        self.sent: list[Sent] = []

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)
        assert not any(t.is_alive() for t in self._threads), "a load thread did not stop"
        if self._errors:
            raise RuntimeError("a load thread failed") from self._errors[0]

    def snapshot(self) -> list[Sent]:
        with self._lock:
            return list(self.sent)

    def acknowledged_since(self, instant: float) -> int:
        """How many requests sent at or after `instant` were acknowledged."""
        return sum(1 for s in self.snapshot() if s.sent_at >= instant and s.acknowledged)

    def _run(self, worker: int) -> None:
        try:
            with client(self._server) as http:
                number = 0
                while not self._stopping.is_set():
                    number += 1
                    sent = self._send(http, worker, number)
                    with self._lock:
                        self.sent.append(sent)
                    if not sent.acknowledged:
                        time.sleep(PAUSE_AFTER_REFUSAL_SECONDS)
        except Exception as exc:  # a bug in the test: surfaced by stop()
            self._errors.append(exc)
            raise

    def _send(self, http: httpx.Client, worker: int, number: int) -> Sent:
        event_id = f"{self._prefix}-{worker}-{number}"
        if number % BATCH_EVERY == 0:
            ids = [f"{event_id}-{k}" for k in range(BATCH_SIZE)]
            events = [make_event(event_id=i) for i in ids]
            path: Literal["/events", "/events/batch"] = "/events/batch"
            body = json.dumps({"events": events}).encode()
        else:
            ids = [event_id]
            path = "/events"
            body = json.dumps(make_event(event_id=event_id)).encode()
        started = time.monotonic()
        answer = post(http, self._producer, path, body)
        return Sent(path, ids, body, started, time.monotonic(), answer)


def status_counts(sent: list[Sent]) -> Counter[str]:
    """Requests by answer: "202", "batch 200", "503 store_unavailable", "no answer
    (ConnectError)"…"""
    counts: Counter[str] = Counter()
    for s in sent:
        a = s.answer
        kind = "batch " if s.path == "/events/batch" else ""
        if a.status is None:
            counts[f"{kind}no answer ({a.code})"] += 1
        elif a.status >= 400:
            counts[f"{kind}{a.status} {a.code}"] += 1
        else:
            counts[f"{kind}{a.status}"] += 1
    return counts
