"""Moves this Python process's wall clock forward when SUITE_CLOCK_SHIFT_SECONDS is set.

`python -m tests.clock_shift` puts this folder on PYTHONPATH, so every Python process of the
run imports it at start-up — pytest, its xdist workers, and each `ct serve`, `ct worker` or
`ct` command a test starts — and each moves its clock by the same number of seconds. It uses
time-machine, which replaces what Python code reads (`time.time`, `datetime.now`, `date.today`,
`time.gmtime`/`localtime`/`strftime`) and leaves the monotonic clock alone, so timeouts, sleeps
and the event loop behave as usual while every date is in the future.
"""

from __future__ import annotations

import os

_shift = os.environ.get("SUITE_CLOCK_SHIFT_SECONDS")
if _shift:
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(seconds=float(_shift)), tick=True).start()
