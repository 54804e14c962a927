"""Instructions per ingested event, counted by valgrind: a figure a noisy host cannot move.

    python bench/instructions.py [--requests 500] [--batch-size 1] [--app ct|bare]
                                 [--store sqlite|postgresql]

Runs CT's ASGI app (or the bare endpoint, `bench/bare_app.py`) in this process, on a SQLite
file in a temporary folder (or a PostgreSQL database created for the run and dropped after it,
as `bench/ingest.py` does), with the router, run worker and scheduler off, and calls it
directly (no sockets, no uvicorn) with signed `POST /events` requests (or `/events/batch` with
`--batch-size N`), 64 at a time so the group commit batches as under load. After a warm-up it
has callgrind (`valgrind --tool=callgrind`, instrumentation off until then) count the
instructions of the measured requests, every thread included (the group commit's writer too),
and prints instructions per event. It re-runs itself under valgrind; expect 20–60 s.

Wall time on a shared host drifts by ±15 % over minutes (docs/benchmarks.md); instruction
counts repeat within 1 % run to run, so they show what a code change did to CT's own work.
They leave out what the kernel does for sockets and what uvicorn does per request (the same
for CT and bare), and PostgreSQL's own work (another process), and they are not time: a cache
miss counts as one instruction.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from ingest import store  # noqa: E402
from load import EVENT_TEMPLATE  # noqa: E402

ASGIApp = Callable[..., Awaitable[None]]
CONCURRENCY = 64
WARMUP_REQUESTS = 2000


def _callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def _app(kind: str, workdir: str, database_url: str) -> tuple[ASGIApp, dict[str, Any]]:
    os.environ.update(
        CT_DATABASE_URL=database_url, CT_DATA_DIR=f"{workdir}/data",
        CT_SECRET_KEY=secrets.token_hex(32), CT_ROUTER_ENABLED="false",
        CT_WORKER_ENABLED="false", CT_SCHEDULER_ENABLED="false",
        # Commits in a thread of this process, so the count includes them (callgrind does not
        # follow a writer child process, `ct serve`'s default on SQLite).
        CT_INGEST_WRITER="thread",
    )  # fmt: skip
    created = subprocess.run(
        [sys.executable, "-m", "control_tower.cli.main", "token", "create", "--name", "bench",
         "--role", "producer", "--source", "backend", "--rate-per-minute", "100000000",
         "--burst", "100000000", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    token: dict[str, Any] = json.loads(created.stdout)
    if kind == "bare":
        import bare_app

        return bare_app.create_app(), token
    from control_tower.app import create_app
    from control_tower.observability.logging import configure_logging

    configure_logging("INFO", json_logs=True)  # the access line is part of every request
    return create_app(), token


def _requests(
    token: dict[str, Any], count: int, batch: int, prefix: str
) -> list[tuple[dict[str, Any], bytes]]:
    # A prefix per call: the measured events must be new, not duplicates of the warm-up's.
    ids = (f"{prefix}-{n}" for n in itertools.count())
    key = token["hmac_secret"].encode()
    out = []
    for _ in range(count):
        events = [{"event_id": next(ids), **EVENT_TEMPLATE} for _ in range(batch)]
        path, value = (
            ("/events", events[0]) if batch == 1 else ("/events/batch", {"events": events})
        )
        body = json.dumps(value, separators=(",", ":")).encode()
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers = [
            (b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token['token']}".encode()),
            (b"content-type", b"application/json"),
            (b"x-ct-signature", f"sha256={signature}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]  # fmt: skip
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080), "state": {},
        }  # fmt: skip
        out.append((scope, body))
    return out


async def _call(app: ASGIApp, scope: dict[str, Any], body: bytes) -> int:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the request never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def _drive(app: ASGIApp, requests: list[tuple[dict[str, Any], bytes]]) -> None:
    async def connection(mine: list[tuple[dict[str, Any], bytes]]) -> None:
        for scope, body in mine:
            status = await _call(app, scope, body)
            if status not in (200, 202):
                raise RuntimeError(f"answered {status}")

    await asyncio.gather(*(connection(requests[i::CONCURRENCY]) for i in range(CONCURRENCY)))


async def _measure(app: ASGIApp, token: dict[str, Any], args: argparse.Namespace) -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan: asyncio.Future[None] = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan: {started}")
    batch = args.batch_size
    await _drive(app, _requests(token, max(1, WARMUP_REQUESTS // batch), batch, "warm-up"))
    measured = _requests(token, args.requests, batch, "measured")
    _callgrind_control("--instr=on")
    await _drive(app, measured)
    _callgrind_control("--dump")
    _callgrind_control("--instr=off")
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="measured requests")
    parser.add_argument("--batch-size", type=int, default=1, help="events per request")
    parser.add_argument("--app", choices=("ct", "bare"), default="ct")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--inside-valgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside_valgrind:
        with (
            tempfile.TemporaryDirectory(prefix="ct-instructions-") as workdir,
            store(args.store, Path(workdir)) as database_url,
        ):
            app, token = _app(args.app, workdir, database_url)
            import uvloop

            uvloop.run(_measure(app, token, args))
        return
    with tempfile.TemporaryDirectory(prefix="ct-callgrind-") as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={out}/callgrind.%p", sys.executable, __file__,
             "--inside-valgrind", *sys.argv[1:]],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # The dump taken after the measured requests is the largest (the final one at exit
        # holds only what ran after instrumentation was turned off).
        dump = max(Path(out).iterdir(), key=lambda p: p.stat().st_size)
        totals = next(line for line in dump.read_text().splitlines() if line.startswith("summary:"))
        instructions = int(totals.split()[1])
    events = args.requests * args.batch_size
    print(
        f"{args.app} on {args.store}: {instructions / events:,.0f} instructions per event "
        f"({args.requests} requests of {args.batch_size} event(s), after "
        f"{WARMUP_REQUESTS} warm-up events)"
    )


if __name__ == "__main__":
    main()
