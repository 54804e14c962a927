"""Backup speed and memory: export, verify and restore of a store with 1,000,000 events.

    python bench/backups.py [--events 1000000] [--stores sqlite,postgresql] [--to URL]

For each store (SQLite in a temporary folder; PostgreSQL in a database created for the run and
dropped at the end):

1. load realistic events through CT's write path (bench/health.py's loader: `prepare_event`
   and `insert_events`, COPY on PostgreSQL), each with its outbox row, so the backup holds
   twice as many rows as events;
2. in a fresh child process, take a backup (`write_backup`: one snapshot, every table streamed
   through gzip to a local folder, or --to), then verify it (every file hashed and counted, the
   audit chain walked); the child reports its RSS after imports and its peak RSS during the
   work (the peak is reset after imports, /proc/self/clear_refs), so neither the loading above
   nor the interpreter's import-time peak counts;
3. in another fresh child, restore the backup into a new empty store of the same kind.

Prints rows/s for each phase and the peak RSS; nothing is asserted (the issue's targets:
≥ 50,000 rows/s and < 300 MB peak RSS for the backup).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from control_tower.backups.destination import Location
from control_tower.backups.export import write_backup
from control_tower.backups.restore import load_backup
from control_tower.backups.verify import verify_backup
from control_tower.catalog import load_default_catalog
from control_tower.db import build_engine
from control_tower.migrate import upgrade
from health import load, postgres_store, sqlite_store


def peak_rss_mb() -> float:
    """The process's peak RSS so far (since start, or since `reset_peak_rss`)."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return _status_mb("VmRSS")


def reset_peak_rss() -> None:
    """Start the peak over from the current RSS (Linux: clear_refs 5), so the import-time peak
    of the interpreter does not hide what the measured phase itself uses."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _status_mb(field: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    """This process's CPU time: on a shared 2-core machine, rows per CPU second say what the
    code does when it has a core, however busy the machine's other processes keep it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_backup(url: str, destination: str) -> dict[str, Any]:
    reset_peak_rss()
    baseline = rss_mb()  # the interpreter with CT imported, before any work
    engine = build_engine(url)
    began, cpu = time.perf_counter(), cpu_seconds()
    folder, manifest = write_backup(engine, Location.parse(destination), datetime.now(UTC))
    exported, export_cpu = time.perf_counter() - began, cpu_seconds() - cpu
    began, cpu = time.perf_counter(), cpu_seconds()
    check = verify_backup(folder)
    verified, verify_cpu = time.perf_counter() - began, cpu_seconds() - cpu
    engine.dispose()
    return {
        "location": folder.url, "rows": manifest.total_rows, "bytes": manifest.total_bytes,
        "export_s": exported, "verify_s": verified, "ok": check.ok, "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline, "export_cpu_s": export_cpu, "verify_cpu_s": verify_cpu,
    }  # fmt: skip


def child_restore(url: str, location: str) -> dict[str, Any]:
    reset_peak_rss()
    engine = build_engine(url)
    folder = Location.parse(location)
    manifest = verify_backup(folder).raise_if_invalid()
    upgrade(engine, manifest.schema_revision)
    began = time.perf_counter()
    rows = load_backup(engine, folder, manifest)
    took = time.perf_counter() - began
    engine.dispose()
    return {"rows": sum(rows.values()), "restore_s": took, "peak_rss_mb": peak_rss_mb()}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_store(store: str, events: int, workdir: Path, to: str | None) -> dict[str, Any]:
    context = sqlite_store(workdir) if store == "sqlite" else postgres_store()
    restore_dir = workdir / "restore"
    restore_dir.mkdir(exist_ok=True)
    with context as url:
        engine = build_engine(url)
        upgrade(engine)
        loaded = load(
            engine, load_default_catalog(), 0, events, datetime.now(UTC), store == "postgresql"
        )
        engine.dispose()
        print(f"{store}: loaded {events} events in {loaded:.1f} s", flush=True)
        backup = run_child("--child-backup", url, to or str(workdir / "backups"))
        print(f"{store}: backup {backup}", flush=True)
        target = postgres_store() if store == "postgresql" else sqlite_store(restore_dir)
        with target as target_url:
            restored = run_child("--child-restore", target_url, backup["location"])
        print(f"{store}: restore {restored}", flush=True)
    return {"store": store, "events": events, **backup, **restored,
            "restore_peak_rss_mb": restored["peak_rss_mb"],
            "peak_rss_mb": backup["peak_rss_mb"]}  # fmt: skip


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(f"{'store':<11} {'events':>9} {'rows':>9} {'MB':>6} {'export rows/s':>14} "
          f"{'(per CPU s)':>12} "
          f"{'verify rows/s':>14} {'restore rows/s':>15} {'backup RSS MB':>14} "
          f"{'(at start)':>10} {'restore RSS MB':>15}")  # fmt: skip
    for r in rows:
        print(
            f"{r['store']:<11} {r['events']:>9} {r['rows']:>9} {r['bytes'] / 1e6:>6.1f} "
            f"{r['rows'] / r['export_s']:>14,.0f} {r['rows'] / r['export_cpu_s']:>12,.0f} "
            f"{r['rows'] / r['verify_s']:>14,.0f} "
            f"{r['rows'] / r['restore_s']:>15,.0f} {r['peak_rss_mb']:>14.0f} "
            f"{r['baseline_rss_mb']:>10.0f} "
            f"{r['restore_peak_rss_mb']:>15.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--to", default=None, help="Backup destination (default: a temp folder).")
    parser.add_argument("--child-backup", nargs=2, metavar=("URL", "DEST"), help=argparse.SUPPRESS)
    parser.add_argument("--child-restore", nargs=2, metavar=("URL", "LOC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_backup:
        print(json.dumps(child_backup(*args.child_backup)))
        return 0
    if args.child_restore:
        print(json.dumps(child_restore(*args.child_restore)))
        return 0
    rows = []
    for store in args.stores.split(","):
        with tempfile.TemporaryDirectory(prefix=f"ct-bench-backups-{store}-") as tmp:
            rows.append(bench_store(store, args.events, Path(tmp), args.to))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
