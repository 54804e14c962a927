"""Ingest benchmark: CT against a bare endpoint on the same stack, in the same run.

    python bench/ingest.py [--seconds 10] [--rounds 3] [--concurrency 64]
                           [--stores sqlite,postgresql] [--batch-size 100] [--workers 1]
                           [--router serve|inprocess|worker]

For each store it starts CT as a real server (`ct serve`: SQLite in a temporary folder, or
PostgreSQL in a database created for the run and dropped afterwards) and the bare endpoint
(`bench/bare_app.py`: read and parse the JSON body, answer 202) with the same uvicorn options,
then drives both with the same signed load from a separate client process (`bench/load.py`):
single-event posts, then batches, bare and CT taking turns for `--rounds` pairs (a shared
host's speed drifts by ±15 % over minutes; the summary gives the median of the rounds' ratios
and of CT's batch rates, with every round's figure). It prints events/s and p50/p95/p99
latencies per phase, the CPU used by the client and the server, and the CT/bare ratio for
single events. After each CT
phase it waits for the router to route every event it acknowledged and prints how long that
took. `--router serve` (the default deployment) routes in `ct serve`'s own child process;
`--router inprocess` routes inside the API process (CT_ROUTER_PROCESS=false); `--router worker`
runs `ct serve` with CT_ROUTER_ENABLED=false and the router in a separate `ct worker` process.
The CPU of every process of the server (API, router child, worker) counts as the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
PG_ADMIN_DSN = os.environ.get("CT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    database_url: str | None = None

    def cpu_seconds(self) -> float:
        """User + system CPU of every process in the server's groups (workers, router too)."""
        groups = {self.process.pid, *(helper.pid for helper in self.helpers)}
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:  # field 5 (pgrp), after pid and comm
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLK_TCK


def routing_backlog(database_url: str) -> int:
    """Acknowledged events the router has not yet routed."""
    query = "SELECT count(*) FROM event_routes WHERE status IN ('pending', 'retrying')"
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


def wait_routed(database_url: str, timeout: float = 300.0) -> tuple[int, float]:
    """(backlog when the load stopped, seconds until the router had routed all of it)."""
    started = time.perf_counter()
    backlog = first = routing_backlog(database_url)
    while backlog and time.perf_counter() - started < timeout:
        time.sleep(0.25)
        backlog = routing_backlog(database_url)
    if backlog:
        raise RuntimeError(f"router left {backlog} events unrouted after {timeout:.0f} s")
    return first, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    name: str, command: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it has not gone after 15 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def router_worker(
    wanted: bool, command: list[str], env: dict[str, str], workdir: Path
) -> Iterator[subprocess.Popen[bytes] | None]:
    if not wanted:
        yield None
        return
    with (workdir / "worker.log").open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        stop_group(process)


@contextmanager
def store(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'ct.sqlite3'}"
        return
    name = f"ct_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drive(
    server: Server, token: dict[str, Any], args: argparse.Namespace, batch: int
) -> dict[str, Any]:
    command = [
        sys.executable, str(BENCH_DIR / "load.py"),
        "--url", server.url, "--token", token["token"], "--secret", token["hmac_secret"],
        "--prefix", f"{server.name}-{batch}-{uuid.uuid4().hex[:8]}",
        "--seconds", str(args.seconds), "--warmup", str(args.warmup),
        "--concurrency", str(args.concurrency), "--batch-size", str(batch),
    ]  # fmt: skip
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_cpu"] = (server.cpu_seconds() - cpu_before) / wall
    result["load"] = os.getloadavg()[0]
    if server.database_url is not None:
        result["backlog"], result["drain_s"] = wait_routed(server.database_url)
    return result


def bench_store(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix=f"ct-bench-{kind}-") as tmp,
        store(kind, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
        env.update(
            CT_DATABASE_URL=url, CT_DATA_DIR=str(workdir / "data"),
            CT_SECRET_KEY=secrets.token_hex(32), PYTHONUNBUFFERED="1",
        )  # fmt: skip
        cli = [sys.executable, "-m", "control_tower.cli.main"]
        created = subprocess.run(
            [*cli, "token", "create", "--name", "bench", "--role", "producer", "--source",
             "backend", "--rate-per-minute", "100000000", "--burst", "100000000", "--json"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = json.loads(created.stdout)
        workers = str(args.workers)
        ct_port, bare_port = free_port(), free_port()
        ct_cmd = [*cli, "serve", "--host", "127.0.0.1", "--port", str(ct_port)]
        ct_cmd += ["--workers", workers]
        ct_env = dict(env)
        if args.router == "worker":
            ct_env["CT_ROUTER_ENABLED"] = "false"
        if args.router == "inprocess":
            ct_env["CT_ROUTER_PROCESS"] = "false"
        bare_cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(BENCH_DIR),
            "bare_app:create_app", "--host", "127.0.0.1", "--port", str(bare_port),
            "--workers", workers, "--no-access-log", "--log-level", "warning",
            "--timeout-graceful-shutdown", "10",
        ]  # fmt: skip
        with (
            serve("ct", ct_cmd, ct_env, ct_port, workdir / "ct.log") as ct,
            serve("bare", bare_cmd, env, bare_port, workdir / "bare.log") as bare,
            router_worker(args.router == "worker", [*cli, "worker"], env, workdir) as helper,
        ):
            ct.database_url = url
            if helper is not None:
                ct.helpers.append(helper)
            # Bare and CT take turns, round after round: a shared host's speed drifts by
            # ±15 % over minutes, and a ratio from one pair of phases carries that drift.
            for batch in (1, args.batch_size):
                for round_no in range(1, args.rounds + 1):
                    for server in (bare, ct):
                        result = drive(server, token, args, batch)
                        result.update(store=kind, endpoint=server.name, batch=batch)
                        result["round"] = round_no
                        rows.append(result)
                        print_row(result, flush=True)
    return rows


HEADER = (
    f"{'store':<11}{'endpoint':<9}{'per POST':>9}{'events/s':>11}{'ev/cpu-s':>10}{'req/s':>9}"
    f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'client':>8}{'server':>8}{'load':>6}"
    f"{'backlog':>9}{'drain s':>9}"
)


def per_cpu(r: dict[str, Any]) -> float:
    """Events per CPU-second of the server: what it would do with a whole core to itself."""
    return float(r["events_per_s"] / r["server_cpu"]) if r["server_cpu"] > 0 else 0.0


def print_row(r: dict[str, Any], flush: bool = False) -> None:
    bad = sum(v for k, v in r["statuses"].items() if not k.startswith("2")) + sum(
        r["errors"].values()
    )
    print(
        f"{r['store']:<11}{r['endpoint']:<9}{r['batch']:>9}{r['events_per_s']:>11,.0f}"
        f"{per_cpu(r):>10,.0f}"
        f"{r['requests_per_s']:>9,.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        f"{bad:>9}{r['client_cpu']:>8.0%}{r['server_cpu']:>8.0%}{r['load']:>6.1f}"
        + (f"{r['backlog']:>9,}{r['drain_s']:>9.1f}" if "backlog" in r else ""),
        flush=flush,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare/CT pairs per phase; the summary takes medians"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes (CT and bare)")
    parser.add_argument(
        "--router",
        choices=("serve", "inprocess", "worker"),
        default="serve",
        help="route in ct serve's router child (the default), inside its API process, "
        "or in a separate ct worker",
    )
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    print(
        f"{args.seconds:g} s per phase after {args.warmup:g} s warm-up, {args.concurrency} "
        f"connections, {args.workers} uvicorn worker(s), router in {args.router}, "
        f"{os.cpu_count()} CPUs; client and server CPU are shares of one core; load is the "
        "1-minute load average after the phase; backlog is what the router still had to route "
        "when the load stopped, drain s how long it took"
    )
    print(HEADER, flush=True)
    rows = [row for kind in stores for row in bench_store(kind, args)]
    print("\nsummary")
    print(HEADER)
    for row in rows:
        print_row(row)
    for kind in stores:
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        batches: list[float] = []
        for round_no in range(1, args.rounds + 1):
            single = {
                r["endpoint"]: r
                for r in rows
                if r["store"] == kind and r["batch"] == 1 and r["round"] == round_no
            }
            ratios.append(single["ct"]["events_per_s"] / max(single["bare"]["events_per_s"], 1e-9))
            cpu_ratios.append(per_cpu(single["ct"]) / max(per_cpu(single["bare"]), 1e-9))
            batches.extend(
                r["events_per_s"]
                for r in rows
                if r["store"] == kind and r["endpoint"] == "ct" and r["batch"] > 1
                and r["round"] == round_no
            )  # fmt: skip
        print(
            f"{kind}: CT/bare single-event = {statistics.median(ratios):.0%} median of "
            f"{args.rounds} rounds ({', '.join(f'{r:.0%}' for r in ratios)}; per server "
            f"CPU-second {statistics.median(cpu_ratios):.0%}); CT batches of {args.batch_size} "
            f"= {statistics.median(batches):,.0f} events/s median "
            f"({', '.join(f'{b:,.0f}' for b in batches)})"
        )


if __name__ == "__main__":
    main()
