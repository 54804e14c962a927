"""Reports at scale: the digest of a London day holding 1,000,000 events, and the weekly trend of
its ISO week, on each store. Prints the figures; asserts nothing (targets: ≤ 2 s each).

    python bench/reports.py [--events 1000000] [--stores sqlite,postgresql] [--repeats 5]

For each store (SQLite in a temporary folder; PostgreSQL in a database created for the run and
dropped at the end):

1. load `--events` realistic events received over yesterday in London (bench/health.py's
   generator and write path: `prepare_event`, then `insert_events` on SQLite and COPY on
   PostgreSQL), and a week of status history (a change every 2 hours per system, with reasons)
   and of ingest refusals;
2. route them with the real router (`build_router`: every feature's handlers, the reports'
   counters among them);
3. time, in process, making the digest of that day and the trend of its week (build, JSON and
   Markdown: what the job, the API and the CLI do), the first call and the median of
   `--repeats`; and what the reports' routing handler costs per routed event.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from control_tower.catalog import Catalog, load_default_catalog
from control_tower.db import build_engine, unit_of_work
from control_tower.health import rollups as health_rollups
from control_tower.ingest.preparation import prepare_event
from control_tower.ingest.refusals import Refusal, add_refusals
from control_tower.migrate import upgrade
from control_tower.models import event_counts, events, system_status_changes
from control_tower.reports import service
from control_tower.reports.links import Links
from control_tower.reports.periods import day_period, last_complete_day, week_name
from control_tower.reports.rollups import plan_rows

# bench/health.py is this script's neighbour: its generator, loaders and stores are reused.
from health import (  # type: ignore[import-not-found]
    KINDS,
    LOAD_BATCH,
    SYSTEM_IDS,
    _copy_batch,
    _insert_batch,
    _latency,
    _make_payload,
    _raw,
    postgres_store,
    route,
    sqlite_store,
)

LONDON = load_default_catalog().reports.tz
LINKS = Links("https://ct.swan.example")


def one_day(day: date, count: int, seed: int) -> Iterator[tuple[dict[str, Any], datetime]]:
    """`count` events received evenly over the London day `day` (runs as started + completed
    pairs), as bench/health.py makes them over 8 days."""
    rng = random.Random(seed)
    names, weights = list(KINDS), list(KINDS.values())
    span = day_period(day, LONDON)
    step = (span.end - span.start) / count
    i = 0
    while i < count:
        received = span.start + step * i
        kind = rng.choices(names, weights)[0]
        if kind == "run":
            run_id, system = f"run-{i:08d}", rng.choice(SYSTEM_IDS)
            status = "failed" if rng.random() < 0.03 else "success"
            for n, (etype, state) in enumerate((("ct.run.started", "running"),
                                                ("ct.run.completed", status))):  # fmt: skip
                payload = {"run_id": run_id, "trigger": f"{system}-nightly", "status": state,
                           "system_id": system}  # fmt: skip
                yield _raw(f"bench-{i + n:08d}", etype, "ct", received, payload, run_id), received
            i += 2
            continue
        etype, source, payload = _make_payload(kind, rng, i)
        yield (
            _raw(f"bench-{i:08d}", etype, source, received - _latency(rng), payload, None),
            (received),
        )
        i += 1


def load(engine: Engine, catalog: Catalog, day: date, count: int, use_copy: bool) -> float:
    began = time.perf_counter()
    write = _copy_batch if use_copy else _insert_batch
    batch: list[dict[str, Any]] = []
    for raw, received in one_day(day, count, seed=7):
        batch.append(prepare_event(raw, None, catalog, received, producer="bench").row)
        if len(batch) >= LOAD_BATCH:
            write(engine, batch)
            batch.clear()
    if batch:
        write(engine, batch)
    return time.perf_counter() - began


def history(engine: Engine, catalog: Catalog, monday: date) -> int:
    """A status change every 2 hours per system over two weeks (this one and the one before,
    which the trend compares with), and a week of refusals."""
    rng = random.Random(11)
    start = day_period(monday - timedelta(days=7), LONDON).start
    rows: list[dict[str, Any]] = []
    for system in catalog.systems:
        status = "unknown"
        for step in range(14 * 12):
            new = rng.choice([s for s in ("green", "amber", "red") if s != status])
            reasons = [{"objective": o, "status": rng.choice(("green", "green", "amber", "red")),
                        "measured": None, "threshold": None, "window": "", "evidence": [],
                        "message": o} for o in ("heartbeat_gap", "errors_24h",
                                                "intake_latency_p95")]  # fmt: skip
            rows.append({"system_id": system.id, "at": start + timedelta(hours=2 * step),
                         "from_status": status, "to_status": new, "reasons": reasons})  # fmt: skip
            status = new
    with unit_of_work(engine) as conn:
        conn.execute(system_status_changes.insert(), rows)
        for hour in range(7 * 24):
            refused = Counter({Refusal(f"producer-{n}", "backend", "unknown_type",
                                       f"made.up.type{n}"): 3 for n in range(5)})  # fmt: skip
            add_refusals(conn, refused, start + timedelta(days=7, hours=hour))
    return len(rows)


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(first call, median of `repeats` more), in seconds."""
    began = time.perf_counter()
    call()
    first = time.perf_counter() - began
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return first, statistics.median(times)


def handler_cost(engine: Engine, catalog: Catalog, sample: int) -> tuple[float, float, float]:
    """µs per event: the reports' plan (before the write transaction), its writes (in a
    transaction rolled back), and health's plan for comparison — on batches of 500 as routed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(events.c[n] for n in ("seq", "event_id", "type", "source", "occurred_at",
                                           "received_at", "correlation_id", "payload")))
            .order_by(events.c.seq).limit(sample)
        ).mappings().all()  # fmt: skip
    batches = [rows[i : i + 500] for i in range(0, len(rows), 500)]
    began = time.perf_counter()
    plans = [plan_rows(batch) for batch in batches]
    plan_us = (time.perf_counter() - began) / len(rows) * 1e6
    with engine.connect() as conn:
        tx = conn.begin()
        began = time.perf_counter()
        for plan in plans:
            plan.apply(conn)
        write_us = (time.perf_counter() - began) / len(rows) * 1e6
        tx.rollback()
    began = time.perf_counter()
    for batch in batches:
        health_rollups.plan_events(catalog, batch)
    health_us = (time.perf_counter() - began) / len(rows) * 1e6
    return plan_us, write_us, health_us


def bench_store(store: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    catalog = load_default_catalog()
    day = last_complete_day(datetime.now(UTC), LONDON)
    monday = day - timedelta(days=day.weekday())
    context = sqlite_store(workdir) if store == "sqlite" else postgres_store()
    with context as url:
        engine = build_engine(url, sqlite_synchronous="NORMAL")
        try:
            upgrade(engine)
            print(f"[{store}] loading {args.events:,} events over {day} …", flush=True)
            load_s = load(engine, catalog, day, args.events, store == "postgresql")
            changes = history(engine, catalog, monday)
            print(f"[{store}]   loaded in {load_s:.1f} s (+{changes} status changes); routing …",
                  flush=True)  # fmt: skip
            route_s, routed = route(engine, catalog, args.route_batch)
            if store == "postgresql":
                with engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM (ANALYZE)"
                    )
            with engine.connect() as conn:
                counters = conn.execute(select(func.count()).select_from(event_counts)).scalar()
            print(f"[{store}]   routed {routed:,} in {route_s:.1f} s "
                  f"({route_s / routed * 1e6:.0f} µs/event); {counters:,} event_counts rows",
                  flush=True)  # fmt: skip

            def digest() -> Any:
                with unit_of_work(engine, write=False) as conn:
                    return service.render_daily(conn, catalog, day, LINKS)

            def weekly() -> Any:
                with unit_of_work(engine, write=False) as conn:
                    return service.render_weekly(conn, catalog, monday, LINKS)

            d_first, d_median = timed(digest, args.repeats)
            w_first, w_median = timed(weekly, args.repeats)
            made = digest()
            events_in_day = json.loads(made.json)["events"]["total"]
            plan_us, write_us, health_us = handler_cost(engine, catalog, args.handler_sample)
        finally:
            engine.dispose()
    return {
        "store": store, "events": args.events, "day": str(day), "week": week_name(monday),
        "in_day": events_in_day, "load_s": load_s, "route_s": route_s,
        "digest_first": d_first, "digest_median": d_median, "weekly_first": w_first,
        "weekly_median": w_median, "plan_us": plan_us, "write_us": write_us,
        "health_plan_us": health_us, "json_bytes": len(made.json), "md_bytes": len(made.markdown),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls after the first.")
    parser.add_argument("--route-batch", type=int, default=5000, help="Router batch size.")
    parser.add_argument("--handler-sample", type=int, default=100_000,
                        help="Events the handler's cost is measured on.")  # fmt: skip
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    print(f"bench/reports.py events={args.events:,} stores={stores} cpus={os.cpu_count()} "
          f"python={sys.version.split()[0]}", flush=True)  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-reports-"))
    rows = []
    try:
        for store in stores:
            rows.append(bench_store(store, args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    head = (f"{'store':<11} {'events':>9} {'in day':>9} {'digest first':>12} {'median':>7} "
            f"{'weekly first':>12} {'median':>7}  {'handler plan+write µs/ev':>24} "
            f"{'(health plan)':>13}  {'load s':>6} {'route s':>7}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['store']:<11} {r['events']:>9,} {r['in_day']:>9,} {r['digest_first']:>11.3f}s "
              f"{r['digest_median']:>6.3f}s {r['weekly_first']:>11.3f}s {r['weekly_median']:>6.3f}s"
              f"  {r['plan_us']:>11.2f} + {r['write_us']:>10.2f} {r['health_plan_us']:>13.2f}  "
              f"{r['load_s']:>6.0f} {r['route_s']:>7.0f}")  # fmt: skip
    for r in rows:
        print(f"{r['store']}: day {r['day']}, week {r['week']}; digest JSON {r['json_bytes']:,} "
              f"bytes, Markdown {r['md_bytes']:,} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
