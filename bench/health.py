"""Constant cost of GET /health: the same answer time at 10,000 and at 1,000,000 stored events.

    python bench/health.py [--sizes 10000,1000000] [--stores sqlite,postgresql] [--requests 200]

For each store (SQLite in a temporary folder; PostgreSQL in a database created for the run and
dropped at the end) and each size, growing incrementally (load 10k, measure, add 990k, measure):

1. load realistic events spread over the last 8 days through the real write path:
   `prepare_event` (validation, hash, redaction) and `insert_events` in big batches, which writes
   each event with its outbox row (`event_routes`) in one transaction;
2. route them with the real router (`Router.drain` with a big batch), which builds the rollups;
3. start CT as a real server process (`ct serve`, router on) and time GET /health with a viewer
   token: p50/p95/p99 over --requests sequential requests after a warm-up; also time
   `service.overview()` in process;
4. run `ct rebuild` (server stopped) and check that GET /health answers the same body as before,
   and that `service.overview()` at one fixed instant is identical before and after.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, func, select

from control_tower.app import build_router
from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.catalog import Catalog, load_default_catalog
from control_tower.db import build_engine, unit_of_work
from control_tower.health import service
from control_tower.ingest.preparation import prepare_event
from control_tower.ingest.repository import insert_events
from control_tower.kit.clock import SystemClock
from control_tower.migrate import upgrade
from control_tower.models import event_routes, events, system_rollups
from control_tower.routing.router import RouterConfig

PG_ADMIN_DSN = os.environ.get("CT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MASTER_KEY = "bench-master-key-not-secret"
SPREAD = timedelta(days=8)
LOAD_BATCH = 10_000

# Systems with a heartbeat objective send `system.heartbeat` from their own source.
HEARTBEAT_SOURCES = {"backend": "backend", "portal": "portal", "finance": "finance",
                     "website": "website"}  # fmt: skip
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_WEIGHTS = (50, 30, 15, 5)


# ---------------------------------------------------------------------------------- events


def _money(rng: random.Random, low: int, high: int) -> dict[str, Any]:
    return {"amount_minor": rng.randint(low, high), "currency": "GBP"}


def _make_payload(kind: str, rng: random.Random, n: int) -> tuple[str, str, dict[str, Any]]:
    """(type, source, payload) for one event of this kind."""
    contractor = f"c-{rng.randint(1, 4000):05d}"
    if kind == "heartbeat":
        system = rng.choice(list(HEARTBEAT_SOURCES))
        return "system.heartbeat", HEARTBEAT_SOURCES[system], {"system_id": system,
                                                              "version": "1.4.2"}  # fmt: skip
    if kind == "fn_error":
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        fn = rng.choice(("generateInvoice", "parseTimesheet", "sendReminder", "syncXero"))
        return "backend.fn.error", "backend", {"fn_name": fn, "severity": severity,
                                               "stack_ref": f"logs/{n}"}  # fmt: skip
    if kind == "ci_failed":
        repo = rng.choice(("swan/backend", "swan/portal", "swan/desktop"))
        return "ci.workflow.failed", "github", {
            "repo": repo, "run_id": 9_000_000 + n, "job": "test",
            "url": f"https://github.com/{repo}/actions/runs/{9_000_000 + n}",
        }  # fmt: skip
    if kind == "upload":
        return "portal.upload.received", "portal", {"contractor_id": contractor,
                                                    "file_ref": f"uploads/{n}.pdf"}  # fmt: skip
    if kind == "invoice":
        total = _money(rng, 10_000, 900_000)
        vat = {"amount_minor": total["amount_minor"] // 5, "currency": "GBP"}
        return "finance.invoice.generated", "finance", {
            "invoice_id": f"INV-{n:08d}", "period": "2026-11", "total": total, "vat": vat,
        }  # fmt: skip
    if kind == "payment":
        return "finance.payment.webhook", "finance", {
            "invoice_id": f"INV-{rng.randint(1, n + 1):08d}", "status_before": "sent",
            "status_after": rng.choice(("paid", "paid", "paid", "failed")),
        }  # fmt: skip
    if kind == "timesheet":
        source = rng.choice(("backend", "desktop"))
        return "excel.timesheet.ingested", source, {
            "contractor_id": contractor, "period": f"2026-W{rng.randint(40, 48)}",
            "items": rng.randint(1, 40),
        }  # fmt: skip
    if kind == "contract":
        return "desktop.trigger.contract", "desktop", {"contractor_id": contractor,
                                                       "contract_id": f"K-{n}"}  # fmt: skip
    if kind == "form":
        score = round(rng.random(), 2)
        return "website.form.submitted", "website", {"form_id": "contact", "captcha_score": score}
    if kind == "parsed":
        return "backend.parsed", "backend", {"document_id": f"d-{n}"}
    if kind == "transform":
        return "backend.transform.applied", "backend", {"document_id": f"d-{n}",
                                                        "transform": "normalise"}  # fmt: skip
    if kind == "artifact":
        source = rng.choice(("backend", "desktop", "finance", "portal"))
        return "artifact.pointer.written", source, {"pointer": f"s3://swan/artifacts/{n}"}
    raise ValueError(kind)


KINDS = {
    "heartbeat": 25, "fn_error": 3, "ci_failed": 0.5, "upload": 18, "invoice": 7, "payment": 5,
    "timesheet": 10, "contract": 5, "form": 8, "parsed": 6, "transform": 4, "artifact": 3,
    "run": 3,
}  # fmt: skip
SYSTEM_IDS = ("backend", "portal", "finance", "desktop", "website", "ci")


def _latency(rng: random.Random) -> timedelta:
    """Intake latency: mostly seconds, 3% late arrivals of 10 minutes to 6 hours."""
    if rng.random() < 0.03:
        return timedelta(seconds=rng.uniform(600, 6 * 3600))
    return timedelta(seconds=rng.expovariate(1 / 2.0))


def generate(
    start: int, count: int, now: datetime, seed: int
) -> Iterator[tuple[dict[str, Any], datetime]]:
    """`count` (raw event as a producer sends it, received at) over the 8 days before `now`.

    Received times increase with the index (so ingest order is arrival order) and each event
    occurred its intake latency earlier; runs come as started + completed pairs sharing a
    correlation id, completed with status success (97%) or failed, naming a system.
    """
    rng = random.Random(seed)
    names = list(KINDS)
    weights = list(KINDS.values())
    step = SPREAD / count
    first = now - SPREAD
    i = 0
    while i < count:
        n = start + i
        received = first + step * i + timedelta(microseconds=rng.randint(0, 999))
        kind = rng.choices(names, weights)[0]
        if kind == "run":
            run_id = f"run-{n:08d}"
            system = rng.choice(SYSTEM_IDS)
            trigger = f"{system}-nightly"
            took = timedelta(seconds=rng.uniform(5, 600))
            occurred = received - _latency(rng)
            yield _raw(f"bench-{n:08d}", "ct.run.started", "ct", occurred - took,
                       {"run_id": run_id, "trigger": trigger, "status": "running",
                        "system_id": system}, run_id), received  # fmt: skip
            i += 1
            if i >= count:
                return
            status = "failed" if rng.random() < 0.03 else "success"
            yield _raw(f"bench-{n + 1:08d}", "ct.run.completed", "ct", occurred,
                       {"run_id": run_id, "trigger": trigger, "status": status,
                        "system_id": system}, run_id), received  # fmt: skip
            i += 1
            continue
        etype, source, payload = _make_payload(kind, rng, n)
        yield (
            _raw(f"bench-{n:08d}", etype, source, received - _latency(rng), payload, None),
            received,
        )
        i += 1


def _raw(
    event_id: str,
    etype: str,
    source: str,
    occurred: datetime,
    payload: dict[str, Any],
    correlation_id: str | None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"event_id": event_id, "type": etype, "source": source,
                           "occurred_at": occurred.isoformat(), "payload": payload}  # fmt: skip
    if correlation_id:
        raw["correlation_id"] = correlation_id
    return raw


EVENT_COLUMNS = ("event_id", "type", "source", "occurred_at", "received_at", "correlation_id",
                 "payload", "redactions", "payload_sha256", "producer")  # fmt: skip


def _insert_batch(engine: Engine, batch: list[dict[str, Any]]) -> None:
    """CT's own write path: each event and its outbox row in one transaction."""
    with unit_of_work(engine) as conn:
        outcomes = insert_events(conn, batch)
    if any(o.kind != "accepted" for o in outcomes):
        raise RuntimeError("a bench event was not accepted as new")


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _copy_batch(engine: Engine, batch: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the events, then write their outbox rows, in one transaction.

    The same rows insert_events writes (UTC stored naive, JSONB payload, one `pending` route
    per event), without psycopg converting a 13,000-parameter INSERT per 1,000 rows.
    """
    with unit_of_work(engine) as conn:
        last_seq = conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
        pg = conn.connection.driver_connection
        with pg.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(
                        (
                            row["event_id"],
                            row["type"],
                            row["source"],
                            _naive_utc(row["occurred_at"]),
                            _naive_utc(row["received_at"]),
                            row["correlation_id"],
                            json.dumps(row["payload"]),
                            json.dumps(row["redactions"]),
                            row["payload_sha256"],
                            row["producer"],
                        )
                    )
            cur.execute(
                "INSERT INTO event_routes (event_id, seq, status, attempts, available_at, "
                "updated_at) SELECT event_id, seq, 'pending', 0, received_at, received_at "
                "FROM events WHERE seq > %s",
                (last_seq,),
            )
            if cur.rowcount != len(batch):
                raise RuntimeError(f"expected {len(batch)} outbox rows, wrote {cur.rowcount}")


def load(
    engine: Engine, catalog: Catalog, start: int, count: int, now: datetime, use_copy: bool
) -> float:
    """Store `count` events (validated, hashed, redacted by prepare_event); returns seconds."""
    began = time.perf_counter()
    batch: list[dict[str, Any]] = []
    write = _copy_batch if use_copy else _insert_batch
    for raw, received in generate(start, count, now, seed=start + 1):
        batch.append(prepare_event(raw, None, catalog, received, producer="bench").row)
        if len(batch) >= LOAD_BATCH:
            write(engine, batch)
            batch.clear()
    if batch:
        write(engine, batch)
    return time.perf_counter() - began


def route(engine: Engine, catalog: Catalog, batch_size: int) -> tuple[float, int]:
    """Route everything pending with the real router; returns (seconds, events routed)."""
    router, _ = build_router(
        engine, catalog, SystemClock(), RouterConfig(batch_size=batch_size), name="bench-router"
    )
    began = time.perf_counter()
    report = router.drain(max_batches=1_000_000)
    took = time.perf_counter() - began
    if report.retrying or report.dead:
        raise RuntimeError(f"routing failed for some events: {report}")
    return took, report.routed


# ---------------------------------------------------------------------------------- stores


@contextmanager
def sqlite_store(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'ct.sqlite3'}"


PG_BASE = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


@contextmanager
def postgres_store() -> Iterator[str]:
    """A database created for the run; it and its snapshots are dropped at the end."""
    name = f"ct_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_BASE}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for db in (name, f"{name}_snap"):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def snapshot(url: str, workdir: Path) -> str:
    """A copy of the store as it is now (its connections must be closed)."""
    if url.startswith("sqlite"):
        target = workdir / "snap.sqlite3"
        with sqlite3.connect(url.split("///", 1)[1]) as conn:
            conn.execute("VACUUM INTO ?", (str(target),))
        return f"sqlite:///{target}"
    name = _pg_name(url)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_snap" TEMPLATE "{name}"')
    return f"postgresql+psycopg://{PG_BASE}/{name}_snap"


# ---------------------------------------------------------------------------------- server


def _ct() -> list[str]:
    ct = Path(sys.executable).with_name("ct")
    return [str(ct)] if ct.exists() else ["ct"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`ct serve` as a real uvicorn process on 127.0.0.1, router on."""

    def __init__(self, env: dict[str, str], logfile: Path) -> None:
        self.env = env
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logfile = logfile
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        log = self.logfile.open("ab")
        self.proc = subprocess.Popen(
            [*_ct(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ct serve exited; see {self.logfile}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"ct serve did not answer /healthz in 60 s; see {self.logfile}")

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ct_env(url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CT_DATABASE_URL=url,
        CT_DATA_DIR=str(data_dir),
        CT_SECRET_KEY=MASTER_KEY,
        CT_ROUTER_ENABLED="true",
        # No pollers: the default catalogue's self-check would store events of its own between
        # sizes (and add requests to the timed ones); the counts below must be the bench's.
        CT_SCHEDULER_ENABLED="false",
        CT_LOG_LEVEL="WARNING",
    )
    return env


def viewer_token(engine: Engine, catalog: Catalog) -> str:
    with unit_of_work(engine) as conn:
        issued = tokens.create_token(
            conn, name=f"bench-viewer-{uuid.uuid4().hex[:6]}", role=Role.viewer, source=None,
            now=datetime.now(UTC), master_key=MASTER_KEY.encode(),
            known_sources=catalog.source_ids(), actor="bench",
            rate_per_minute=1_000_000, burst=1_000_000,
        )  # fmt: skip
    return issued.token


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_health(base: str, token: str, requests: int, warmup: int) -> tuple[list[float], Any]:
    """Sequential GET /health on one keep-alive connection; returns (ms per request, last body)."""
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    body: Any = None
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(warmup + requests):
            began = time.perf_counter()
            resp = client.get("/health")
            took = (time.perf_counter() - began) * 1000
            if resp.status_code != 200:
                raise RuntimeError(f"GET /health answered {resp.status_code}: {resp.text[:300]}")
            if i >= warmup:
                times.append(took)
            body = resp.json()
    return times, body


def time_paired(
    small: str, large: str, token: str, requests: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Alternate GET /health between two servers, so both see the same machine load."""
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {small: [], large: []}
    with (
        httpx.Client(base_url=small, headers=headers, timeout=30) as a,
        httpx.Client(base_url=large, headers=headers, timeout=30) as b,
    ):
        for i in range(warmup + requests):
            for base, client in ((small, a), (large, b)):
                began = time.perf_counter()
                resp = client.get("/health")
                took = (time.perf_counter() - began) * 1000
                if resp.status_code != 200:
                    raise RuntimeError(f"GET /health answered {resp.status_code}")
                if i >= warmup:
                    times[base].append(took)
    return times[small], times[large]


def time_overview(engine: Engine, catalog: Catalog, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        with unit_of_work(engine, write=False) as conn:
            service.overview(conn, catalog, datetime.now(UTC))
        times.append((time.perf_counter() - began) * 1000)
    return times


def comparable(body: Any) -> Any:
    """The /health body without what depends on the instant it was asked.

    evaluated_at, and the heartbeat gap (minutes since the last heartbeat grow as time passes).
    """
    out = json.loads(json.dumps(body))
    out.pop("evaluated_at", None)
    for system in out.get("systems", []):
        for reason in system.get("reasons", []):
            if reason.get("objective") == "heartbeat_gap":
                reason.pop("measured", None)
                reason.pop("message", None)
    return out


def overview_at(engine: Engine, catalog: Catalog, at: datetime) -> Any:
    with unit_of_work(engine, write=False) as conn:
        return service.overview(conn, catalog, at).model_dump(mode="json")


# ---------------------------------------------------------------------------------- main


@dataclass
class Row:
    store: str
    events: int
    load_s: float
    route_s: float
    routed: int
    rollup_rows: int
    p50: float
    p95: float
    p99: float
    inproc_p50: float
    inproc_p95: float
    rebuild_s: float
    same_http: bool
    same_inproc: bool
    load_avg: float
    notes: list[str] = field(default_factory=list)


def count_rows(engine: Engine) -> tuple[int, int, int]:
    with unit_of_work(engine, write=False) as conn:
        n_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
        n_routed = conn.execute(
            select(func.count()).select_from(event_routes).where(event_routes.c.status == "routed")
        ).scalar_one()
        n_rollups = conn.execute(select(func.count()).select_from(system_rollups)).scalar_one()
    return int(n_events), int(n_routed), int(n_rollups)


def bench_store(store: str, sizes: list[int], args: argparse.Namespace, workdir: Path) -> list[Row]:
    catalog = load_default_catalog()
    rows: list[Row] = []
    store_ctx = sqlite_store(workdir) if store == "sqlite" else postgres_store()
    with store_ctx as url:
        # Loading may use synchronous=NORMAL on SQLite; the server runs with the default FULL.
        engine = build_engine(url, sqlite_synchronous="NORMAL")
        try:
            upgrade(engine)
            token = viewer_token(engine, catalog)
            env = ct_env(url, workdir / f"data-{store}")
            loaded = 0
            for size in sizes:
                now = datetime.now(UTC)
                print(f"[{store}] loading {size - loaded:,} events (total {size:,}) …",
                      flush=True)  # fmt: skip
                use_copy = store == "postgresql" and args.pg_load == "copy"
                load_s = load(engine, catalog, loaded, size - loaded, now, use_copy)
                print(f"[{store}]   loaded in {load_s:.1f} s; routing …", flush=True)
                route_s, routed = route(engine, catalog, args.route_batch)
                loaded = size
                n_events, n_routed, n_rollups = count_rows(engine)
                print(f"[{store}]   routed {routed:,} in {route_s:.1f} s; store has "
                      f"{n_events:,} events, {n_routed:,} routed, {n_rollups:,} rollup rows",
                      flush=True)  # fmt: skip
                if n_events != size or n_routed != size:
                    raise RuntimeError(f"expected {size} events routed, got {n_events}/{n_routed}")
                if store == "postgresql":
                    # As autovacuum would, but now: not in the middle of the timed requests.
                    began = time.perf_counter()
                    with engine.connect() as conn:
                        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "VACUUM (ANALYZE)"
                        )
                    print(f"[{store}]   VACUUM (ANALYZE) {time.perf_counter() - began:.1f} s",
                          flush=True)  # fmt: skip
                inproc = time_overview(engine, catalog, args.requests)
                log = workdir / f"serve-{store}.log"
                with Server(env, log) as server:
                    times, _ = time_health(server.base, token, args.requests, args.warmup)
                    load_avg = os.getloadavg()[0]
                    _, before = time_health(server.base, token, 1, 0)
                fixed = datetime.now(UTC)
                before_inproc = overview_at(engine, catalog, fixed)
                print(f"[{store}]   GET /health p50 {percentile(times, 50):.2f} ms; "
                      "running ct rebuild …", flush=True)  # fmt: skip
                began = time.perf_counter()
                subprocess.run([*_ct(), "rebuild"], env=env, check=True, capture_output=True)
                rebuild_s = time.perf_counter() - began
                after_inproc = overview_at(engine, catalog, fixed)
                with Server(env, log) as server:
                    _, after = time_health(server.base, token, 1, 0)
                same_http = comparable(before) == comparable(after)
                same_inproc = before_inproc == after_inproc
                row = Row(
                    store, size, load_s, route_s, routed, n_rollups,
                    percentile(times, 50), percentile(times, 95), percentile(times, 99),
                    percentile(inproc, 50), percentile(inproc, 95), rebuild_s,
                    same_http, same_inproc, load_avg,
                )  # fmt: skip
                if not same_http:
                    row.notes.append(f"before: {json.dumps(comparable(before))[:2000]}")
                    row.notes.append(f"after:  {json.dumps(comparable(after))[:2000]}")
                print(f"[{store}]   rebuild {rebuild_s:.1f} s; same /health body: {same_http}; "
                      f"same overview at one instant: {same_inproc}; overall status "
                      f"{after['status']}", flush=True)  # fmt: skip
                rows.append(row)
                if size == sizes[0] and len(sizes) > 1:
                    engine.dispose()
                    snap_url = snapshot(url, workdir)
            if len(sizes) > 1:
                paired.append(measure_paired(store, snap_url, url, sizes, token, args, workdir))
        finally:
            engine.dispose()
    return rows


def measure_paired(
    store: str,
    small_url: str,
    large_url: str,
    sizes: list[int],
    token: str,
    args: argparse.Namespace,
    workdir: Path,
) -> str:
    """Both sizes served at once and asked in turn: the comparison a busy machine can't skew."""
    print(f"[{store}]   paired: {sizes[0]:,} vs {sizes[-1]:,} events, alternating requests …",
          flush=True)  # fmt: skip
    small_env = ct_env(small_url, workdir / f"data-{store}-small")
    large_env = ct_env(large_url, workdir / f"data-{store}")
    log = workdir / f"serve-{store}-paired.log"
    with Server(small_env, log) as small, Server(large_env, log) as large:
        a, b = time_paired(small.base, large.base, token, args.requests, args.warmup)
        load_avg = os.getloadavg()[0]
    return (
        f"{store:<11} {sizes[0]:>9,} {percentile(a, 50):>8.2f} {percentile(a, 95):>7.2f} "
        f"{percentile(a, 99):>7.2f}   {sizes[-1]:>9,} {percentile(b, 50):>8.2f} "
        f"{percentile(b, 95):>7.2f} {percentile(b, 99):>7.2f}   {load_avg:>5.1f}"
    )


paired: list[str] = []


def print_table(rows: list[Row]) -> None:
    head = (f"{'store':<11} {'events':>9} {'load s':>7} {'route s':>7} {'rollups':>7} "
            f"{'/health p50':>11} {'p95':>6} {'p99':>6} {'overview() p50':>14} {'p95':>6} "
            f"{'rebuild s':>9} {'loadavg':>7}  same after rebuild")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        same = "yes" if r.same_http and r.same_inproc else (
            f"http={r.same_http} overview={r.same_inproc}")  # fmt: skip
        print(f"{r.store:<11} {r.events:>9,} {r.load_s:>7.1f} {r.route_s:>7.1f} "
              f"{r.rollup_rows:>7,} {r.p50:>8.2f} ms {r.p95:>6.2f} {r.p99:>6.2f} "
              f"{r.inproc_p50:>11.2f} ms {r.inproc_p95:>6.2f} {r.rebuild_s:>9.1f} "
              f"{r.load_avg:>7.1f}  {same}")  # fmt: skip
    if paired:
        print()
        print("Paired: both sizes served at once, GET /health asked alternately (ms)")
        head = (f"{'store':<11} {'events':>9} {'p50':>8} {'p95':>7} {'p99':>7}   "
                f"{'events':>9} {'p50':>8} {'p95':>7} {'p99':>7}   loadavg")  # fmt: skip
        print(head)
        print("-" * len(head))
        for line in paired:
            print(line)
    for r in rows:
        for note in r.notes:
            print(f"{r.store} {r.events}: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default="10000,1000000",
        help="Total stored events to measure at, ascending (grown incrementally).",
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=200, help="Timed GET /health requests.")
    parser.add_argument("--warmup", type=int, default=20, help="Untimed requests first.")
    parser.add_argument("--route-batch", type=int, default=5000, help="Router batch size.")
    parser.add_argument(
        "--pg-load",
        choices=("copy", "insert"),
        default="copy",
        help="PostgreSQL loading: COPY (default) or insert_events.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args(argv)  # fmt: skip
    sizes = sorted(int(s) for s in args.sizes.split(","))
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    print(f"bench/health.py sizes={sizes} stores={stores} requests={args.requests} "
          f"cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-health-"))
    rows: list[Row] = []
    try:
        for store in stores:
            rows += bench_store(store, sizes, args, workdir)
    finally:
        print()
        print_table(rows)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ok = all(r.same_http and r.same_inproc for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
