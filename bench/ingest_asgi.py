"""CPU per ingest request through CT's whole ASGI app, with no HTTP server or client.

    python bench/ingest_asgi.py [--batch-size 1] [--requests 5000] [--rounds 4]
                                [--concurrency 64] [--compare-with REF | --bare]

A fresh SQLite store in a temporary folder, the app as `ct serve` builds it (middleware,
routes, committer, router, run worker), the scheduler off so a first backup does not land in
a round. `--concurrency` tasks post signed events (the template `bench/load.py` sends) straight
to the app, as uvicorn would hand them over. Each round prints events/s and the process's CPU
microseconds per request, router and committer threads included. The first round warms up.

It measures one change at a time far more steadily than a run over HTTP (no client or server
sharing the two cores): `--compare-with REF` runs the code of a git ref the same way, in turns
with this tree's, from a worktree on the same virtualenv. `--bare` drives
`bench/bare_app.py` the same way instead: the framework's own floor per request.
`bench/ingest.py` stays the benchmark of record.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CT = [sys.executable, "-m", "control_tower.cli.main"]

# The measuring side, run in a child process per round set (`--child`), so each code under test
# imports fresh.
CHILD = r"""
import asyncio, hashlib, hmac, json, os, sys, time
from datetime import UTC, datetime
sys.path.insert(0, os.environ["CT_BENCH_DIR"])
from load import event_template
if os.environ.get("CT_BENCH_BARE"):
    from bare_app import create_app
else:
    from control_tower.app import create_app
from control_tower.observability.logging import configure_logging
from control_tower.settings import Settings

batch, requests, rounds, concurrency = map(int, sys.argv[1:5])
token = json.loads(os.environ["CT_BENCH_TOKEN"])
configure_logging(Settings().log_level, Settings().log_json)
sys.stdout = open(os.devnull, "w")  # the access lines: written, not shown
app = create_app()
key = token["hmac_secret"].encode()
template = event_template(datetime.now(UTC))
ids = iter(range(10**9))

def request():
    events = [{"event_id": f"asgi-{next(ids)}", **template} for _ in range(batch)]
    path, value = ("/events", events[0]) if batch == 1 else ("/events/batch", {"events": events})
    body = json.dumps(value, separators=(",", ":")).encode()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers = [
        (b"host", b"bench"), (b"authorization", f"Bearer {token['token']}".encode()),
        (b"content-type", b"application/json"),
        (b"x-ct-signature", f"sha256={signature}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080), "state": {},
    }
    return scope, body

async def post(scope, body):
    sent, status = False, []
    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
    await app(scope, receive, send)
    return status[0]

async def main():
    async with app.router.lifespan_context(app):
        for round_ in range(rounds):
            prepared = [request() for _ in range(requests)]
            answers = []
            async def client(share):
                for scope, body in share:
                    answers.append(await post(scope, body))
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(client(prepared[i::concurrency]) for i in range(concurrency)))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            failed = sum(1 for status in answers if status >= 300)
            print(json.dumps({"round": round_, "events_per_s": requests * batch / wall,
                              "cpu_us_per_request": cpu / requests * 1e6, "failed": failed}),
                  file=sys.stderr)

try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


def run(label: str, src: Path | None, args: argparse.Namespace) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="ct-asgi-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
        env.update(
            CT_DATABASE_URL=f"sqlite:///{folder}/ct.db", CT_DATA_DIR=folder,
            CT_SECRET_KEY=secrets.token_hex(32), CT_SCHEDULER_ENABLED="false",
            CT_BENCH_DIR=str(BENCH_DIR),
        )  # fmt: skip
        if args.bare:
            env["CT_BENCH_BARE"] = "1"
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        created = subprocess.run(
            [*CT, "token", "create", "--name", "bench", "--role", "producer", "--source",
             "backend", "--rate-per-minute", "100000000", "--burst", "100000000", "--json"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        env["CT_BENCH_TOKEN"] = created.stdout
        options = [
            str(args.batch_size),
            str(args.requests),
            str(args.rounds),
            str(args.concurrency),
        ]
        done = subprocess.run(
            [sys.executable, "-c", CHILD, *options], env=env, capture_output=True, text=True
        )
    rounds = [json.loads(line) for line in done.stderr.splitlines() if line.startswith('{"round"')]
    if done.returncode != 0 or len(rounds) != args.rounds:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    for r in rounds:
        print(
            f"{label:8s} round {r['round']}  {r['events_per_s']:9,.0f} events/s  "
            f"{r['cpu_us_per_request']:8.1f} µs CPU per request  failed {r['failed']}"
        )
    return rounds[1:]  # the first round warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--compare-with", metavar="REF")
    parser.add_argument("--bare", action="store_true", help="drive bench/bare_app.py instead")
    args = parser.parse_args()
    if args.bare and args.compare_with:
        parser.error("--bare measures the bare endpoint alone: no --compare-with")
    if args.compare_with is None:
        rounds = run("bare" if args.bare else "this", None, args)
        print(f"median: {_median(rounds):.1f} µs CPU per request")
        return
    with tempfile.TemporaryDirectory(prefix="ct-asgi-ref-") as folder:
        worktree = Path(folder) / "tree"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(worktree), args.compare_with], check=True,
                       capture_output=True)  # fmt: skip
        try:
            this, other = [], []
            for _ in range(2):  # in turns: the host's speed drifts
                this += run("this", None, args)
                other += run(args.compare_with, worktree / "src", args)
        finally:
            subprocess.run([*git, "remove", "--force", str(worktree)], capture_output=True)
    ratio = _median(this) / _median(other)
    print(f"median µs CPU per request: this {_median(this):.1f}, {args.compare_with} "
          f"{_median(other):.1f} ({ratio:.0%})")  # fmt: skip


def _median(rounds: list[dict[str, float]]) -> float:
    values = sorted(r["cpu_us_per_request"] for r in rounds)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


if __name__ == "__main__":
    main()
