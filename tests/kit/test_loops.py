"""The polling loop both lease workers (runs, notifications) run on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.testing import capture_logs

from control_tower.kit.log_throttle import ThrottledLog
from control_tower.kit.loops import poll_until_stopped

Step = Callable[[], object | None]


def run_loop(step_of: Callable[[asyncio.Event], Step], poll_seconds: float) -> None:
    """Run the loop with `step_of(stop)` as its step, for at most 10 s."""

    async def main() -> None:
        stop = asyncio.Event()
        step = step_of(stop)
        await asyncio.wait_for(
            poll_until_stopped(
                step, stop, poll_seconds=poll_seconds, failures=ThrottledLog("t", 60.0),
                failed_event="worker_step_failed", worker_id="w1",
            ),
            timeout=10,
        )  # fmt: skip

    asyncio.run(main())


def test_a_step_that_raises_is_logged_once_and_the_loop_goes_on() -> None:
    calls: list[int] = []

    def step_of(stop: asyncio.Event) -> Step:
        def step() -> None:
            calls.append(1)
            if len(calls) == 3:
                stop.set()
                return
            raise RuntimeError("store away")

        return step

    with capture_logs() as logs:
        run_loop(step_of, poll_seconds=0.01)

    assert len(calls) == 3  # two failures did not stop it
    failures = [line for line in logs if line["event"] == "worker_step_failed"]
    assert len(failures) == 1  # the second one, within the interval, was throttled
    assert failures[0]["worker_id"] == "w1"
    assert failures[0]["exc_info"] is True


def test_a_step_that_found_work_is_followed_at_once() -> None:
    # A 30 s idle wait after any of the first three steps would outlast run_loop's 10 s.
    calls: list[int] = []

    def step_of(stop: asyncio.Event) -> Step:
        def step() -> str | None:
            calls.append(1)
            if len(calls) < 4:
                return "worked"
            stop.set()
            return None

        return step

    run_loop(step_of, poll_seconds=30)
    assert len(calls) == 4


def test_an_idle_step_waits_until_stop_instead_of_spinning() -> None:
    calls: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            poll_until_stopped(
                lambda: calls.append(1), stop, poll_seconds=30,
                failures=ThrottledLog("t"), failed_event="worker_step_failed",
            )
        )  # fmt: skip
        while not calls:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a loop that spun would step many times meanwhile
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    asyncio.run(main())
    assert len(calls) == 1
