"""`python -m tests.clock_shift [PYTEST ARGS]`: the suite at two future instants, a year away.

Each run starts a minute before a Europe/London DST change at least a year from now — the next
spring-forward and fall-back after that — with every Python process's clock moved there (see
sitecustomize.py). A test that passes only on some dates fails here. What it cannot move: the
PostgreSQL server's clock (CT never asks the database for the time; tests/test_clock_sources.py
keeps it so), file modification times, the monotonic clock, and non-Python processes.

Without test paths in the arguments, the suite's files are dealt alternately to the two
instants, so each test runs shifted once (on SQLite: the store's own clock is never read, so
PostgreSQL adds time, not coverage), and the whole guard costs about half a suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
HERE = Path(__file__).resolve().parent
# time-machine is imported by sitecustomize before pytest can rewrite its plugin's asserts.
ALREADY_IMPORTED = (
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"
)


def dst_changes(after: datetime, count: int) -> list[datetime]:
    """The next `count` instants at which London's UTC offset changes, after `after`."""
    found: list[datetime] = []
    hour = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    offset = hour.astimezone(LONDON).utcoffset()
    while len(found) < count:
        hour += timedelta(hours=1)
        current = hour.astimezone(LONDON).utcoffset()
        if current != offset:
            found.append(hour)
            offset = current
    return found


def targets(now: datetime) -> list[datetime]:
    """A minute before each of the two DST changes that follow `now` + 365 days."""
    return [change - timedelta(minutes=1) for change in dst_changes(now + timedelta(days=365), 2)]


def suite_files() -> list[str]:
    """The suite's test files, except those whose clock this guard cannot move: Node's own
    suite (a non-Python process signs with the real clock) and the fault tests, which need a
    PostgreSQL server of their own."""
    tests = HERE.parent
    unmovable = {tests / "clients" / "test_node_client.py"}
    files = sorted(
        path
        for path in tests.rglob("test_*.py")
        if path not in unmovable and "faults" not in path.relative_to(tests).parts
    )
    return [str(path.relative_to(tests.parent)) for path in files]


def plans(now: datetime, pytest_args: list[str]) -> list[tuple[datetime, list[str]]]:
    """Each instant with the pytest arguments of its run."""
    instants = targets(now)
    if any(Path(arg.split("::")[0]).exists() for arg in pytest_args if not arg.startswith("-")):
        return [(instant, pytest_args) for instant in instants]
    files = suite_files()
    selected = ["-k", "not postgresql", *pytest_args]
    return [(t, [*selected, *files[n :: len(instants)]]) for n, t in enumerate(instants)]


def run(target: datetime, pytest_args: list[str]) -> int:
    shift = int((target - datetime.now(UTC)).total_seconds())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["SUITE_CLOCK_SHIFT_SECONDS"] = str(shift)
    print(f"== the suite with every clock at {target.isoformat()} (shifted {shift} s)", flush=True)  # noqa: T201
    command = [sys.executable, "-m", "pytest", "-W", ALREADY_IMPORTED, *pytest_args]
    return subprocess.run(command, env=env, check=False).returncode


def main() -> int:
    failed = [t for t, args in plans(datetime.now(UTC), sys.argv[1:]) if run(t, args) != 0]
    for target in failed:
        print(f"!! the suite failed with the clock at {target.isoformat()}", flush=True)  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
