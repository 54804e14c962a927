"""The date-independence guard (`python -m tests.clock_shift`, run by .ci/run) really moves the
clock that CT reads, in this process and in the processes tests start; and it picks the eve of
both London DST changes a year ahead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.clock_shift.__main__ import ALREADY_IMPORTED, dst_changes, plans, suite_files, targets

SHIFT = float(os.environ.get("SUITE_CLOCK_SHIFT_SECONDS", "0"))
SLACK = 30.0  # seconds between reading the kernel's time and Python's, on a busy machine


def kernel_time(tmp_path: Path) -> float:
    """The wall clock as the kernel keeps it (a new file's mtime), which no shift moves."""
    probe = tmp_path / f"probe-{time.monotonic_ns()}"
    probe.touch()
    return probe.stat().st_mtime


def test_this_process_reads_the_shifted_clock(tmp_path: Path) -> None:
    real = kernel_time(tmp_path)
    assert abs(datetime.now(UTC).timestamp() - real - SHIFT) < SLACK
    assert abs(time.time() - real - SHIFT) < SLACK


def test_processes_the_tests_start_read_the_shifted_clock(tmp_path: Path) -> None:
    real = kernel_time(tmp_path)
    seen = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.datetime.now().timestamp())"],
        capture_output=True, text=True, check=True, env=dict(os.environ),
    ).stdout  # fmt: skip
    assert abs(float(seen) - real - SHIFT) < SLACK


def test_the_guard_runs_on_the_eve_of_both_london_dst_changes_a_year_ahead() -> None:
    start = datetime(2026, 12, 6, 11, 42, tzinfo=UTC)  # a fixed instant; no real clock here
    assert dst_changes(start, 3) == [
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
        datetime(2027, 10, 31, 1, 0, tzinfo=UTC),
        datetime(2028, 3, 26, 1, 0, tzinfo=UTC),
    ]
    assert targets(start) == [
        datetime(2028, 3, 26, 0, 59, tzinfo=UTC),
        datetime(2028, 10, 29, 0, 59, tzinfo=UTC),
    ]
    assert all(t - start > timedelta(days=365) for t in targets(start))


def test_make_test_runs_sqlite_today_and_postgresql_a_year_ahead_on_every_file() -> None:
    start = datetime(2026, 12, 6, 11, 42, tzinfo=UTC)
    today, spring, autumn = plans(start, ["-q"], with_today=True)
    assert today == (None, ["-k", "sqlite or test_postgres_outage or test_node_client", "-q"])
    assert [spring[0], autumn[0]] == targets(start)
    for _, args in (spring, autumn):
        assert args[:3] == ["-k", "not sqlite", "-q"]
    dealt = spring[1][3:] + autumn[1][3:]
    assert sorted(dealt) == suite_files()  # each file shifted once
    assert "tests/e2e/test_end_to_end.py" in dealt
    assert "tests/clients/test_node_client.py" not in dealt  # Node's clock does not move
    assert not [f for f in dealt if f.startswith("tests/faults/")]  # nor a PostgreSQL server's


def test_given_paths_every_run_takes_them_whole() -> None:
    start = datetime(2026, 12, 6, 11, 42, tzinfo=UTC)
    runs = plans(start, ["tests/reports", "-q"], with_today=True)
    assert [args for _, args in runs] == [["tests/reports", "-q"]] * 3
    assert [t for t, _ in runs] == [None, *targets(start)]


def test_the_three_runs_take_every_collected_test_exactly_once() -> None:
    def collected(*args: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "-W", ALREADY_IMPORTED, *args],
            capture_output=True, text=True, check=True, env=dict(os.environ),
        ).stdout  # fmt: skip
        return [line for line in out.splitlines() if "::" in line]

    runs = plans(datetime.now(UTC), [], with_today=True)
    taken = [test for _, args in runs for test in collected(*args)]
    assert len(taken) == len(set(taken))
    assert sorted(taken) == sorted(collected())
