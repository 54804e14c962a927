"""Ingest benchmark: CT against a bare endpoint on the same stack, in the same run.

    python bench/ingest.py [--seconds 10] [--warmup 1] [--rounds 3] [--concurrency 64]
                           [--stores sqlite,postgresql] [--batch-size 100] [--workers 1]
                           [--router serve|worker] [--compare-with REF]
                           [--steady RATE] [--steady-seconds 60]

For each store it starts CT as a real server (`ct serve`: SQLite in a temporary folder, or
PostgreSQL in a database created for the run and dropped afterwards) and the bare endpoint
(`bench/bare_app.py`: read and parse the JSON body, answer 202) with the same uvicorn options,
then drives them with the same signed load from a separate client process (`bench/load.py`):
single-event posts, then batches, the servers taking turns for `--rounds` rounds (a shared
host's speed drifts by a third within an hour: only figures from the same run compare, and the
summary gives the median of the rounds' ratios, with every round's figure). It prints events/s
and p50/p95/p99 latencies per phase, the CPU used by the client and the server, and the
CT/bare ratio for single events. After each CT phase it waits for the router to route every
event it acknowledged and prints how long that took.

`--compare-with REF` (e.g. 5ad4b9d) also serves the code of that git ref, checked out in a
temporary worktree and run from the same venv (`<worktree>/src` first on PYTHONPATH), on its own
store: endpoint `ct-old` next to `ct` (this tree's code). The summary then also gives, per store,
the median new/old ratio for single events and for batches.

`--steady RATE` ends each store with a steady phase against each CT: RATE single events/s for
`--steady-seconds` on a fixed schedule (`bench/load.py --rate`; latency counted from each
request's due time, so a stall is not hidden), then a check that every event CT acknowledged is
in its store. It prints acknowledged, stored and lost, and PASS when p99 ≤ 50 ms, nothing is
lost and every request was acknowledged.

`--router serve` (the default deployment) routes inside `ct serve`; `--router worker` runs
`ct serve` with CT_ROUTER_ENABLED=false and the router in a separate `ct worker` process. The
CPU of every process of a server (API, worker, the old code's router and writer children)
counts as the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg
import sqlalchemy

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PG_ADMIN_DSN = os.environ.get("CT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLI = [sys.executable, "-m", "control_tower.cli.main"]
STEADY_P99_MS = 50.0
SINGLE_VS_BARE = 0.30
BATCHES_VS_OLD = 0.80


@dataclass(frozen=True)
class Code:
    """A version of CT to serve: this tree's (`src` None) or a checked-out ref's `src`."""

    name: str
    src: Path | None = None


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    token: dict[str, str]
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


def store_rows(database_url: str, query: str, **params: str) -> list[Any]:
    """The rows of one read-only query on either store."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sqlalchemy.text(query), params))
    finally:
        engine.dispose()


def routing_backlog(database_url: str) -> int:
    """Acknowledged events the router has not yet routed."""
    query = "SELECT count(*) FROM event_routes WHERE status IN ('pending', 'retrying')"
    return int(store_rows(database_url, query)[0][0])


def stored_event_ids(database_url: str, prefix: str) -> set[str]:
    query = "SELECT event_id FROM events WHERE event_id LIKE :pattern"
    return {row[0] for row in store_rows(database_url, query, pattern=f"{prefix}-%")}


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
    name: str, command: list[str], env: dict[str, str], log: Path, token: dict[str, str]
) -> Iterator[Server]:
    """Start `command` (which serves on the port after `--port`) and wait until it is ready."""
    port = command[command.index("--port") + 1]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, token)
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
    wanted: bool, env: dict[str, str], workdir: Path
) -> Iterator[subprocess.Popen[bytes] | None]:
    if not wanted:
        yield None
        return
    with (workdir / "worker.log").open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The `src` folder of `ref`, checked out in a temporary git worktree removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ct-bench-old-"))
    git = ["git", "-C", str(REPO_DIR), "worktree"]
    try:
        subprocess.run([*git, "add", "--detach", str(folder), ref], capture_output=True, check=True)
        yield folder / "src"
    finally:
        removed = subprocess.run([*git, "remove", "--force", str(folder)], capture_output=True)
        if removed.returncode != 0:  # never added, or half added: clear what is left
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([*git, "prune"], capture_output=True)


def ct_env(code: Code, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
    env.update(
        CT_DATABASE_URL=database_url, CT_DATA_DIR=str(data_dir),
        CT_SECRET_KEY=secrets.token_hex(32), PYTHONUNBUFFERED="1",
    )  # fmt: skip
    if code.src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code.src), env.get("PYTHONPATH")]))
    return env


def create_token(env: dict[str, str]) -> dict[str, str]:
    created = subprocess.run(
        [*CLI, "token", "create", "--name", "bench", "--role", "producer", "--source",
         "backend", "--rate-per-minute", "100000000", "--burst", "100000000", "--json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(f"ct token create failed:\n{created.stderr[-3000:]}")
    token: dict[str, str] = json.loads(created.stdout)
    return token


@contextmanager
def ct_server(code: Code, kind: str, workdir: Path, args: argparse.Namespace) -> Iterator[Server]:
    """`ct serve` of `code` on a store of its own (and `ct worker` with `--router worker`)."""
    home = workdir / code.name
    home.mkdir()
    with store(kind, home) as database_url:
        env = ct_env(code, database_url, home / "data")
        token = create_token(env)
        command = [*CLI, "serve", "--host", "127.0.0.1", "--port", str(free_port())]
        command += ["--workers", str(args.workers)]
        serve_env = dict(env, CT_ROUTER_ENABLED="false") if args.router == "worker" else env
        with (
            serve(code.name, command, serve_env, home / "serve.log", token) as server,
            router_worker(args.router == "worker", env, home) as helper,
        ):
            server.database_url = database_url
            if helper is not None:
                server.helpers.append(helper)
            yield server


@contextmanager
def bare_server(workdir: Path, args: argparse.Namespace, token: dict[str, str]) -> Iterator[Server]:
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(BENCH_DIR),
        "bare_app:create_app", "--host", "127.0.0.1", "--port", str(free_port()),
        "--workers", str(args.workers), "--no-access-log", "--log-level", "warning",
        "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
    with serve("bare", command, env, workdir / "bare.log", token) as server:
        yield server


def run_load(server: Server, options: list[str]) -> dict[str, Any]:
    """Run `bench/load.py` against `server` and add the server's CPU share to its answer."""
    command = [
        sys.executable, str(BENCH_DIR / "load.py"), "--url", server.url,
        "--token", server.token["token"], "--secret", server.token["hmac_secret"], *options,
    ]  # fmt: skip
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    # The answer (with every acknowledged id: megabytes) comes back in a file: read through a
    # pipe, it twice arrived with a stray control character at a 64 KiB boundary on this host.
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run([*command, "--out", out.name], capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"load.py failed against {server.name}:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(Path(out.name).read_text(encoding="utf-8"))
    result["server_cpu"] = (server.cpu_seconds() - cpu_before) / wall
    result["load"] = os.getloadavg()[0]
    return result


def throughput_phase(server: Server, args: argparse.Namespace, batch: int) -> dict[str, Any]:
    result = run_load(
        server,
        [
            "--prefix", f"{server.name}-{batch}-{uuid.uuid4().hex[:8]}",
            "--seconds", str(args.seconds), "--warmup", str(args.warmup),
            "--concurrency", str(args.concurrency), "--batch-size", str(batch),
        ],
    )  # fmt: skip
    if server.database_url is not None:
        result["backlog"], result["drain_s"] = wait_routed(server.database_url)
    return result


def steady_phase(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """A steady open-loop load, then which acknowledged events are missing from the store."""
    assert server.database_url is not None
    prefix = f"{server.name}-steady-{uuid.uuid4().hex[:8]}"
    result = run_load(
        server,
        [
            "--prefix", prefix, "--rate", str(args.steady),
            "--seconds", str(args.steady_seconds), "--warmup", "0",
            "--concurrency", str(args.concurrency),
        ],
    )  # fmt: skip
    acknowledged = set(result.pop("acknowledged_ids"))
    stored = acknowledged & stored_event_ids(server.database_url, prefix)
    result.update(acknowledged=len(acknowledged), stored=len(stored))
    result["lost"] = len(acknowledged) - len(stored)
    result["backlog"], result["drain_s"] = wait_routed(server.database_url)
    return result


@dataclass
class StoreResults:
    rows: list[dict[str, Any]] = field(default_factory=list)
    steady: list[dict[str, Any]] = field(default_factory=list)


def bench_store(kind: str, args: argparse.Namespace, codes: list[Code]) -> StoreResults:
    results = StoreResults()
    with (
        tempfile.TemporaryDirectory(prefix=f"ct-bench-{kind}-") as tmp,
        ExitStack() as servers,
    ):
        workdir = Path(tmp)
        cts = [servers.enter_context(ct_server(code, kind, workdir, args)) for code in codes]
        bare = servers.enter_context(bare_server(workdir, args, cts[0].token))
        # The servers take turns, round after round: a shared host's speed drifts, and a ratio
        # from one pair of phases carries that drift.
        for batch in (1, args.batch_size):
            for round_no in range(1, args.rounds + 1):
                for server in (bare, *cts):
                    result = throughput_phase(server, args, batch)
                    result.update(store=kind, endpoint=server.name, batch=batch)
                    result["round"] = round_no
                    results.rows.append(result)
                    print_row(result, flush=True)
        if args.steady:
            print(STEADY_HEADER, flush=True)
            for ct in cts:
                result = steady_phase(ct, args)
                result.update(store=kind, endpoint=ct.name)
                results.steady.append(result)
                print_steady_row(result, flush=True)
    return results


HEADER = (
    f"{'store':<11}{'endpoint':<9}{'per POST':>9}{'events/s':>11}{'ev/cpu-s':>10}{'req/s':>9}"
    f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'client':>8}{'server':>8}{'load':>6}"
    f"{'backlog':>9}{'drain s':>9}"
)
STEADY_HEADER = (
    f"{'store':<11}{'endpoint':<9}{'rate':>7}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
    f"{'p99 ms':>9}{'max ms':>9}{'behind':>8}{'non-2xx':>9}{'acked':>9}{'stored':>9}{'lost':>6}"
    f"{'client':>8}{'server':>8}{'backlog':>9}{'drain s':>9}"
)


def per_cpu(r: dict[str, Any]) -> float:
    """Events per CPU-second of the server: what it would do with a whole core to itself."""
    return float(r["events_per_s"] / r["server_cpu"]) if r["server_cpu"] > 0 else 0.0


def not_2xx(r: dict[str, Any]) -> int:
    """Answers other than 2xx, and requests that got no answer."""
    failed = sum(v for k, v in r["statuses"].items() if not k.startswith("2"))
    return int(failed + sum(r["errors"].values()))


def print_row(r: dict[str, Any], flush: bool = False) -> None:
    print(
        f"{r['store']:<11}{r['endpoint']:<9}{r['batch']:>9}{r['events_per_s']:>11,.0f}"
        f"{per_cpu(r):>10,.0f}"
        f"{r['requests_per_s']:>9,.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        f"{not_2xx(r):>9}{r['client_cpu']:>8.0%}{r['server_cpu']:>8.0%}{r['load']:>6.1f}"
        + (f"{r['backlog']:>9,}{r['drain_s']:>9.1f}" if "backlog" in r else ""),
        flush=flush,
    )


def print_steady_row(r: dict[str, Any], flush: bool = False) -> None:
    print(
        f"{r['store']:<11}{r['endpoint']:<9}{r['rate']:>7,.0f}{r['requests_per_s']:>9,.0f}"
        f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}"
        f"{r['behind_schedule']:>8,}{not_2xx(r):>9,}{r['acknowledged']:>9,}{r['stored']:>9,}"
        f"{r['lost']:>6,}{r['client_cpu']:>8.0%}{r['server_cpu']:>8.0%}"
        f"{r['backlog']:>9,}{r['drain_s']:>9.1f}",
        flush=flush,
    )


def steady_verdict(r: dict[str, Any], seconds: float) -> str:
    """PASS when p99 ≤ 50 ms, nothing acknowledged is lost and every request got a 2xx."""
    failures = []
    if not r["p99_ms"] <= STEADY_P99_MS:
        failures.append(f"p99 {r['p99_ms']:.1f} ms > {STEADY_P99_MS:g} ms")
    if r["lost"]:
        failures.append(f"{r['lost']:,} acknowledged events lost")
    if r["acknowledged"] < r["due"]:
        missing = r["due"] - r["acknowledged"]
        failures.append(f"{missing:,} of {r['due']:,} requests not acknowledged")
    verdict = "FAIL: " + "; ".join(failures) if failures else "PASS"
    return (
        f"{r['store']} {r['endpoint']} steady {r['rate']:,.0f} events/s for {seconds:g} s: "
        f"{verdict} (p99 {r['p99_ms']:.1f} ms, acknowledged {r['acknowledged']:,}, stored "
        f"{r['stored']:,}, lost {r['lost']:,}; {r['behind_schedule']:,} sent ≥ 5 ms late)"
    )


def phases(rows: list[dict[str, Any]], kind: str, endpoint: str, batch: int) -> list[Any]:
    """One endpoint's phases of one kind, in round order."""
    return [
        r for r in rows if r["store"] == kind and r["endpoint"] == endpoint and r["batch"] == batch
    ]


def rates(rows: list[dict[str, Any]]) -> list[float]:
    return [float(r["events_per_s"]) for r in rows]


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [n / max(d, 1e-9) for n, d in zip(numerators, denominators, strict=True)]


def new_vs_old(rows: list[dict[str, Any]], kind: str, batch: int) -> list[float]:
    new, old = phases(rows, kind, "ct", batch), phases(rows, kind, "ct-old", batch)
    return ratios(rates(new), rates(old))


def median_of(values: list[float], form: str) -> str:
    """E.g. '66 % median (65 %, 66 %, 67 %)' for form '.0%'."""
    listed = ", ".join(f"{v:{form}}" for v in values)
    return f"{statistics.median(values):{form}} median ({listed})"


def check(label: str, values: list[float], floor: float) -> str:
    value = statistics.median(values)
    return f"{label} {value:.0%} ≥ {floor:.0%}: {'PASS' if value >= floor else 'FAIL'}"


def summarise_store(kind: str, rows: list[dict[str, Any]], cts: list[str], batch: int) -> None:
    """Medians over the rounds: CT/bare for single events, new/old when both codes ran."""
    bare = phases(rows, kind, "bare", 1)
    checks = []
    for name in cts:
        single = phases(rows, kind, name, 1)
        vs_bare = ratios(rates(single), rates(bare))
        per_cpu_vs_bare = ratios([per_cpu(r) for r in single], [per_cpu(r) for r in bare])
        print(
            f"{kind}: {name}/bare single events = {median_of(vs_bare, '.0%')}; "
            f"per server CPU-second {median_of(per_cpu_vs_bare, '.0%')}"
        )
        batches = rates(phases(rows, kind, name, batch))
        print(f"{kind}: {name} batches of {batch} = {median_of(batches, ',.0f')} events/s")
        checks.append(check(f"{name}/bare single", vs_bare, SINGLE_VS_BARE))
    if "ct-old" in cts:
        single_vs_old = new_vs_old(rows, kind, 1)
        batches_vs_old = new_vs_old(rows, kind, batch)
        print(f"{kind}: new/old single events = {median_of(single_vs_old, '.0%')}")
        print(f"{kind}: new/old batches of {batch} = {median_of(batches_vs_old, '.0%')}")
        checks.append(check("new/old batches", batches_vs_old, BATCHES_VS_OLD))
    print(f"{kind}: " + "; ".join(checks))


def exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """Leave through the `finally` blocks, which stop servers and drop stores and worktrees."""
    sys.exit(128 + signum)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of every server; the summary takes medians"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes (CT and bare)")
    parser.add_argument(
        "--router",
        choices=("serve", "worker"),
        default="serve",
        help="route inside ct serve (the default) or in a separate ct worker",
    )
    parser.add_argument(
        "--compare-with", metavar="REF", help="also serve this git ref's code, as ct-old"
    )
    parser.add_argument(
        "--steady", type=float, metavar="RATE", help="end with RATE single events/s to each CT"
    )
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    return parser.parse_args()


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    print(
        f"{args.seconds:g} s per phase after {args.warmup:g} s warm-up, {args.concurrency} "
        f"connections, {args.workers} uvicorn worker(s), router in {args.router}, "
        f"{os.cpu_count()} CPUs; client and server CPU are shares of one core; load is the "
        "1-minute load average after the phase; backlog is what the router still had to route "
        "when the load stopped, drain s how long it took"
        + (f"; ct-old is {args.compare_with}" if args.compare_with else "")
    )
    print(HEADER, flush=True)
    with ExitStack() as stack:
        codes = [Code("ct")]
        if args.compare_with:
            codes.append(Code("ct-old", stack.enter_context(checkout(args.compare_with))))
        results = [bench_store(kind, args, codes) for kind in stores]
    print("\nsummary")
    print(HEADER)
    rows = [row for result in results for row in result.rows]
    for row in rows:
        print_row(row)
    for kind in stores:
        summarise_store(kind, rows, [code.name for code in codes], args.batch_size)
    if args.steady:
        print(STEADY_HEADER)
        steady = [r for result in results for r in result.steady]
        for row in steady:
            print_steady_row(row)
        for row in steady:
            print(steady_verdict(row, args.steady_seconds))


if __name__ == "__main__":
    main()
