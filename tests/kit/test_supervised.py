"""SupervisedChild: a real child process, restarted when it dies, stopped through its stdin."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from control_tower.kit.supervised import SupervisedChild
from tests.helpers import process_running, wait_for

# Writes its pid to a file, then lives until its stdin reaches end-of-file.
CHILD = "import os, sys; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); sys.stdin.read()"


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_a_killed_child_is_started_again_and_stop_ends_it(tmp_path: Path) -> None:
    record = tmp_path / "pids"
    child = SupervisedChild(
        "t", [sys.executable, "-c", CHILD, str(record)], dict(os.environ), backoff_seconds=0.05
    )
    child.start()
    try:
        wait_for(lambda: len(pids(record)) == 1)
        first = pids(record)[0]
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(pids(record)) == 2)
        second = pids(record)[1]
        assert second != first
        assert child.starts == 2
        assert child.pid == second
        assert process_running(second)
    finally:
        child.stop()
    assert not process_running(second)
    time.sleep(0.2)
    assert child.starts == 2, "no start after stop"


def test_a_child_that_keeps_failing_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    record = tmp_path / "pids"
    failing = f"open({str(record)!r}, 'a').write('1\\n'); raise SystemExit(3)"
    child = SupervisedChild(
        "t", [sys.executable, "-c", failing], dict(os.environ),
        backoff_seconds=0.2, backoff_max_seconds=0.4,
    )  # fmt: skip
    started = time.monotonic()
    child.start()
    try:
        wait_for(lambda: len(pids(record)) >= 4)
    finally:
        child.stop()
    # Delays of 0.2, 0.4, 0.4 s between the four starts (plus each child's own run time).
    assert time.monotonic() - started >= 1.0
