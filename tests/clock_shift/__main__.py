"""`python -m tests.clock_shift [--with-today] [PYTEST ARGS]`: the suite at today's date and at
two future instants, a year away — what `make test` runs.

The shifted runs start a minute before a Europe/London DST change at least a year from now —
the next spring-forward and fall-back after that — with every Python process's clock moved
there (see sitecustomize.py). A test that passes only on some dates fails there. What they
cannot move: the PostgreSQL server's clock (CT never asks the database for the time;
tests/test_clock_sources.py keeps it so), file modification times, the monotonic clock, and
non-Python processes.

So that the guard costs no second suite, each test runs once: today's run (`--with-today`)
takes every SQLite variant and the tests whose clock cannot be moved (UNMOVABLE); the shifted
runs take every other test — each PostgreSQL variant and each test not parametrised by store —,
the suite's files dealt alternately to the two instants. Every storage test thus runs on both
stores, one of them a year ahead. Given test paths, every run takes them whole.
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


# Test modules whose clock this guard cannot move (their names are also pytest -k words): Node's
# own suite (a non-Python process signs with the real clock) and the fault tests (a PostgreSQL
# server of their own).
UNMOVABLE = ("test_postgres_outage", "test_node_client")
TODAY = " or ".join(("sqlite", *UNMOVABLE))


def suite_files() -> list[str]:
    """The suite's test files but the unmovable ones."""
    tests = HERE.parent
    files = sorted(path for path in tests.rglob("test_*.py") if path.stem not in UNMOVABLE)
    return [str(path.relative_to(tests.parent)) for path in files]


Plan = tuple[datetime | None, list[str]]


def plans(now: datetime, pytest_args: list[str], *, with_today: bool) -> list[Plan]:
    """Each run: its instant (None: today, unshifted) and its pytest arguments."""
    instants = targets(now)
    today: list[Plan] = []
    if any(Path(arg.split("::")[0]).exists() for arg in pytest_args if not arg.startswith("-")):
        if with_today:
            today = [(None, pytest_args)]
        return [*today, *((instant, pytest_args) for instant in instants)]
    if with_today:
        today = [(None, ["-k", TODAY, *pytest_args])]
    files = suite_files()
    shifted = ["-k", "not sqlite", *pytest_args]
    return [*today, *((t, [*shifted, *files[n :: len(instants)]]) for n, t in enumerate(instants))]


def run(target: datetime | None, pytest_args: list[str]) -> int:
    env = dict(os.environ)
    if target is None:
        print("== the suite at today's date", flush=True)  # noqa: T201
    else:
        shift = int((target - datetime.now(UTC)).total_seconds())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        env["SUITE_CLOCK_SHIFT_SECONDS"] = str(shift)
        banner = f"== the suite with every clock at {target.isoformat()} (shifted {shift} s)"
        print(banner, flush=True)  # noqa: T201
    command = [sys.executable, "-m", "pytest", "-W", ALREADY_IMPORTED, *pytest_args]
    return subprocess.run(command, env=env, check=False).returncode


def main() -> int:
    args = sys.argv[1:]
    with_today = "--with-today" in args
    args = [a for a in args if a != "--with-today"]
    failed = [t for t, a in plans(datetime.now(UTC), args, with_today=with_today) if run(t, a)]
    for target in failed:
        when = "today" if target is None else f"with the clock at {target.isoformat()}"
        print(f"!! the suite failed {when}", flush=True)  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
