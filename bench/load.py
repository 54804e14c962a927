"""The load generator `bench/ingest.py` runs in its own process (one core for the client).

asyncio (uvloop when present) with raw keep-alive HTTP/1.1 connections: each connection sends a
signed request, reads the whole answer, sends the next. Every event has a unique id. Prints one
JSON object: requests and events per status, latencies, and the client's own CPU use so a
client-bound run shows itself.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

EVENT_TEMPLATE = {
    "type": "backend.fn.error",
    "occurred_at": "2026-11-26T09:59:00Z",
    "source": "backend",
    "payload": {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "logs/1"},
}


class Signer:
    def __init__(self, host: str, token: str, secret: str, prefix: str) -> None:
        self._host = host
        self._token = token
        self._key = secret.encode("utf-8")
        self._prefix = prefix
        self._ids = itertools.count()

    def _event(self) -> dict[str, Any]:
        return {"event_id": f"{self._prefix}-{next(self._ids)}", **EVENT_TEMPLATE}

    def request(self, batch_size: int) -> bytes:
        if batch_size <= 1:
            path, value = "/events", self._event()
        else:
            path, value = "/events/batch", {"events": [self._event() for _ in range(batch_size)]}
        body = json.dumps(value, separators=(",", ":")).encode()
        signature = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Authorization: Bearer {self._token}\r\nContent-Type: application/json\r\n"
            f"X-CT-Signature: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.events_accepted = 0
        self.errors: Counter[str] = Counter()


async def connection(
    url: Any, signer: Signer, batch_size: int, measure_from: float, until: float, stats: Stats
) -> None:
    try:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
    except OSError as exc:
        stats.errors[type(exc).__name__] += 1
        return
    try:
        while True:
            request = signer.request(batch_size)
            started = time.perf_counter()
            if started >= until:
                break
            writer.write(request)
            status, body = await read_answer(reader)
            ended = time.perf_counter()
            if started < measure_from or ended > until:
                continue
            stats.latencies.append(ended - started)
            stats.statuses[status] += 1
            if status == 202:
                stats.events_accepted += _accepted(body, batch_size)
            elif batch_size > 1 and status == 200:
                stats.events_accepted += _accepted(body, batch_size)
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.errors[type(exc).__name__] += 1
    finally:
        writer.close()


def _accepted(body: bytes, batch_size: int) -> int:
    if batch_size <= 1:
        return 1
    answer = json.loads(body)
    # CT answers per item; the bare endpoint only says "accepted" for the whole batch.
    return int(answer["accepted"]) if "accepted" in answer else batch_size


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    signer = Signer(f"{url.hostname}:{url.port}", args.token, args.secret, args.prefix)
    stats = Stats()
    measure_from = time.perf_counter() + args.warmup
    until = measure_from + args.seconds
    cpu_at_start = time.process_time()
    wall_at_start = time.perf_counter()
    await asyncio.gather(
        *(
            connection(url, signer, args.batch_size, measure_from, until, stats)
            for _ in range(args.concurrency)
        )
    )
    cpu = time.process_time() - cpu_at_start
    wall = time.perf_counter() - wall_at_start
    latencies = sorted(stats.latencies)
    return {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / args.seconds,
        "events_per_s": stats.events_accepted / args.seconds,
        "events_accepted": stats.events_accepted,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": dict(stats.errors),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "client_cpu": cpu / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True, help="event_id prefix, unique per phase")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(args))))


if __name__ == "__main__":
    main()
