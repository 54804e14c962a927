"""The load generator `bench/ingest.py` runs in its own process (one core for the client).

asyncio (uvloop when present) with raw keep-alive HTTP/1.1 connections and signed requests. Every
event has a unique id (`--prefix`-N) and is dated when the run starts.

Closed loop (the default): each connection sends a request, reads the whole answer, sends the
next, as fast as the server answers.

Open loop (`--rate R`, single events only): request i is due at start + i/R. A free connection
takes the next due request and sends it at its time, or at once if it is already late (every
connection was busy). Latency runs from the due time, not from the send, so a server stall counts
in full instead of slowing the client down with it (coordinated omission). The answer adds how
many requests were sent 5 ms or more behind schedule, the worst lag, and the ids of every event
answered 2xx (`acknowledged_ids`), so the caller can check that each of them was stored.

Prints one JSON object: requests and events per status, latencies, and the client's own CPU use
so a client-bound run shows itself.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import math
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

BEHIND_AFTER_S = 0.005  # the event loop's timers are only ms-precise: smaller lags are noise
ANSWER_TIMEOUT_S = 30.0  # open loop: an answer this late counts as an error, not a hang

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def event_template(occurred_at: datetime) -> dict[str, Any]:
    return {
        "type": "backend.fn.error",
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        self._template = event_template(datetime.now(UTC))

    def _event(self) -> dict[str, Any]:
        return {"event_id": f"{self._prefix}-{next(self._ids)}", **self._template}

    def request(self, batch_size: int) -> tuple[list[str], bytes]:
        """(the event ids, the whole signed request)."""
        events = [self._event() for _ in range(max(batch_size, 1))]
        if batch_size <= 1:
            path, value = "/events", events[0]
        else:
            path, value = "/events/batch", {"events": events}
        body = json.dumps(value, separators=(",", ":")).encode()
        signature = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Authorization: Bearer {self._token}\r\nContent-Type: application/json\r\n"
            f"X-CT-Signature: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return [event["event_id"] for event in events], head.encode("latin-1") + body


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
        self.acknowledged_ids: list[str] = []
        self.behind_schedule = 0
        self.max_lag = 0.0

    def record(self, latency: float, status: int, body: bytes, batch_size: int) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1
        if status == 202 or (batch_size > 1 and status == 200):
            self.events_accepted += _accepted(body, batch_size)


def _accepted(body: bytes, batch_size: int) -> int:
    if batch_size <= 1:
        return 1
    answer = json.loads(body)
    # CT answers per item; the bare endpoint only says "accepted" for the whole batch.
    return int(answer["accepted"]) if "accepted" in answer else batch_size


async def open_streams(url: SplitResult, stats: Stats) -> Streams | None:
    try:
        return await asyncio.open_connection(url.hostname, url.port)
    except OSError as exc:
        stats.errors[type(exc).__name__] += 1
        return None


async def closed_loop_connection(
    url: SplitResult,
    signer: Signer,
    batch_size: int,
    measure_from: float,
    until: float,
    stats: Stats,
) -> None:
    streams = await open_streams(url, stats)
    if streams is None:
        return
    reader, writer = streams
    try:
        while True:
            _, request = signer.request(batch_size)
            started = time.perf_counter()
            if started >= until:
                break
            writer.write(request)
            status, body = await read_answer(reader)
            ended = time.perf_counter()
            if started >= measure_from and ended <= until:
                stats.record(ended - started, status, body, batch_size)
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.errors[type(exc).__name__] += 1
    finally:
        writer.close()


class Schedule:
    """Request i of `count` is due at `start + i / rate`."""

    def __init__(self, start: float, rate: float, count: int) -> None:
        self.start = start
        self.rate = rate
        self.count = count
        self._index = itertools.count()

    def next_due(self) -> float | None:
        index = next(self._index)
        return self.start + index / self.rate if index < self.count else None


async def open_loop_connection(
    streams: Streams, signer: Signer, schedule: Schedule, measure_from: float, stats: Stats
) -> None:
    reader, writer = streams
    try:
        while (due := schedule.next_due()) is not None:
            ids, request = signer.request(1)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = time.perf_counter() - due
            writer.write(request)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                status, body = await read_answer(reader)
            ended = time.perf_counter()
            if 200 <= status < 300:
                stats.acknowledged_ids.extend(ids)
            if due >= measure_from:
                stats.record(ended - due, status, body, 1)
                stats.behind_schedule += lag >= BEHIND_AFTER_S
                stats.max_lag = max(stats.max_lag, lag)
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        stats.errors[type(exc).__name__] += 1
    finally:
        writer.close()


def due_count(args: argparse.Namespace) -> int:
    """Requests the open loop sends: those due during the warm-up and the measured time."""
    rate: float = args.rate
    seconds: float = args.warmup + args.seconds
    return math.ceil(rate * seconds)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


async def drive(args: argparse.Namespace, url: SplitResult, signer: Signer, stats: Stats) -> None:
    if args.rate is None:
        measure_from = time.perf_counter() + args.warmup
        until = measure_from + args.seconds
        await asyncio.gather(
            *(
                closed_loop_connection(url, signer, args.batch_size, measure_from, until, stats)
                for _ in range(args.concurrency)
            )
        )
        return
    # Every connection is open before the first request is due.
    opened = await asyncio.gather(*(open_streams(url, stats) for _ in range(args.concurrency)))
    start = time.perf_counter()
    measure_from = start + args.warmup
    schedule = Schedule(start, args.rate, due_count(args))
    await asyncio.gather(
        *(
            open_loop_connection(streams, signer, schedule, measure_from, stats)
            for streams in opened
            if streams is not None
        )
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    signer = Signer(f"{url.hostname}:{url.port}", args.token, args.secret, args.prefix)
    stats = Stats()
    cpu_at_start = time.process_time()
    wall_at_start = time.perf_counter()
    await drive(args, url, signer, stats)
    cpu = time.process_time() - cpu_at_start
    wall = time.perf_counter() - wall_at_start
    latencies = sorted(stats.latencies)
    result: dict[str, Any] = {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / args.seconds,
        "events_per_s": stats.events_accepted / args.seconds,
        "events_accepted": stats.events_accepted,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": dict(stats.errors),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "client_cpu": cpu / wall,
    }
    if args.rate is not None:
        result.update(
            rate=args.rate,
            due=due_count(args),
            behind_schedule=stats.behind_schedule,
            max_lag_ms=stats.max_lag * 1000,
            acknowledged=len(stats.acknowledged_ids),
            acknowledged_ids=stats.acknowledged_ids,
        )
    return result


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
    parser.add_argument(
        "--rate", type=float, default=None, help="open loop: requests per second on a schedule"
    )
    parser.add_argument("--out", help="write the JSON answer to this file instead of stdout")
    args = parser.parse_args()
    if args.rate is not None and (args.rate <= 0 or args.batch_size > 1):
        parser.error("--rate takes a positive rate and single events only (--batch-size 1)")
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    answer = json.dumps(runner(run(args)))
    if args.out is None:
        print(answer)
    else:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(answer)


if __name__ == "__main__":
    main()
