"""Dashboard pages at a million events: p50/p95/p99 of each page of the spec, per store.

    python bench/dashboards.py [--events 1000000] [--stores sqlite,postgresql] [--requests 30]

For each store, loads `--events` realistic events over the last 8 days and routes them with the
real router, as bench/health.py does (its loading code, reused), starts `ct serve` (scheduler
off), signs in to the UI as a maintainer through the real sign-in form, and times sequential
GETs of every dashboard page (after a warm-up), plus the event stream filtered by source and a
second page of it. Prints the figures; asserts nothing (the goal, 300 ms p95, is read off).
Says which panels read rollups (the reports feature's tables, when the store has them) and
which read indexed ranges cut at a limit.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.catalog import Catalog, load_default_catalog
from control_tower.dashboards.spec import load_spec
from control_tower.db import build_engine, unit_of_work
from control_tower.migrate import upgrade
from health import (  # bench/health.py: the same loading, routing, stores and server
    Server,
    ct_env,
    load,
    percentile,
    postgres_store,
    route,
    sqlite_store,
)

MASTER_KEY = "bench-master-key-not-secret"


def maintainer_token(engine: Engine, catalog: Catalog) -> str:
    with unit_of_work(engine) as conn:
        issued = tokens.create_token(
            conn, name=f"bench-ui-{time.time_ns()}", role=Role.maintainer, source=None,
            now=datetime.now(UTC), master_key=MASTER_KEY.encode(),
            known_sources=catalog.source_ids(), actor="bench",
            rate_per_minute=1_000_000, burst=1_000_000,
        )  # fmt: skip
    return issued.token


def signed_in(base: str, token: str) -> httpx.Client:
    """A client with a UI session, signed in through the form as a browser does."""
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/ui/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None, "no CSRF token on the sign-in form"
    answer = client.post("/ui/login", data={"token": token, "csrf": found[1]},
                         headers={"Origin": base})  # fmt: skip
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}")
    return client


def time_page(client: httpx.Client, path: str, requests: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + requests):
        began = time.perf_counter()
        answer = client.get(path)
        took = (time.perf_counter() - began) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
        if i >= warmup:
            times.append(took)
    return times


def pages(client: httpx.Client) -> list[str]:
    paths = [d.path for d in load_spec().dashboards]
    paths.append("/ui/events?source=finance&last=24h")
    first = client.get("/ui/events").text
    older = re.search(r'rel="next" href="\?([^"]+)"', first)
    if older:
        paths.append("/ui/events?" + older[1].replace("&amp;", "&"))
    return paths


def bench_store(store: str, args: argparse.Namespace, workdir: Path) -> list[tuple[str, ...]]:
    catalog = load_default_catalog()
    rows = []
    with sqlite_store(workdir) if store == "sqlite" else postgres_store() as url:
        engine = build_engine(url, sqlite_synchronous="NORMAL")
        try:
            upgrade(engine)
            print(f"[{store}] loading {args.events:,} events …", flush=True)
            load_s = load(engine, catalog, 0, args.events, datetime.now(UTC),
                          store == "postgresql")  # fmt: skip
            route_s, routed = route(engine, catalog, 5000)
            print(f"[{store}]   loaded in {load_s:.0f} s, routed {routed:,} in {route_s:.0f} s",
                  flush=True)  # fmt: skip
            if store == "postgresql":
                with engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM (ANALYZE)"
                    )
            token = maintainer_token(engine, catalog)
        finally:
            engine.dispose()
        env = ct_env(url, workdir / f"data-{store}")
        env["CT_SECRET_KEY"] = MASTER_KEY
        with Server(env, workdir / f"serve-{store}.log") as server:
            client = signed_in(server.base, token)
            for path in pages(client):
                times = time_page(client, path, args.requests, args.warmup)
                rows.append((store, f"{args.events:,}", path, f"{percentile(times, 50):.1f}",
                             f"{percentile(times, 95):.1f}", f"{percentile(times, 99):.1f}",
                             f"{os.getloadavg()[0]:.1f}"))  # fmt: skip
                print("  ".join(rows[-1]), flush=True)
            client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=30, help="Timed GETs per page.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed GETs first.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ct-bench-dashboards-") as folder:
        for store in args.stores.split(","):
            rows += bench_store(store, args, Path(folder))
    header = ("store", "events", "page", "p50 ms", "p95 ms", "p99 ms", "load")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
