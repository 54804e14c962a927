"""How long a `ct` command takes from the shell, start-up included: the median of --repeats
runs of each command against a fresh SQLite store (migrated first, not timed). Asserts nothing.

    python bench/cli_start.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["--help"],
    ["token", "list"],
    ["audit", "verify"],
    ["jobs", "list"],
    ["alerts", "list"],
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
        env.update(CT_DATA_DIR=folder, CT_DATABASE_URL=f"sqlite:///{Path(folder) / 'ct.sqlite3'}")
        ct = [sys.executable, "-m", "control_tower.cli.main"]
        subprocess.run([*ct, "db", "upgrade"], env=env, check=True, capture_output=True)
        print(f"{'command':<22} median s  (of {args.repeats})")
        for command in COMMANDS:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                subprocess.run([*ct, *command], env=env, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            print(f"ct {' '.join(command):<19} {statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
