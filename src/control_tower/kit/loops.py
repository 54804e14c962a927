"""Background loops: async callables that work until a shared stop event is set.

`ct serve` starts them in the app's lifespan, `ct worker` on their own; either way the same
list of loops (run worker now, the event router and others later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from control_tower.kit.log_throttle import ThrottledLog

Loop = Callable[[asyncio.Event], Awaitable[None]]


class BackgroundLoops:
    """Loops running as tasks of the current event loop, stopped together."""

    def __init__(self, loops: Sequence[Loop]) -> None:
        self._loops = list(loops)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(_as_coroutine(loop, self._stop)) for loop in self._loops]

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _as_coroutine(loop: Loop, stop: asyncio.Event) -> None:
    await loop(stop)


async def poll_until_stopped(
    step: Callable[[], object | None],
    stop: asyncio.Event,
    *,
    poll_seconds: float,
    failures: ThrottledLog,
    failed_event: str,
    **log_fields: object,
) -> None:
    """Run the blocking `step` in a worker thread until `stop` is set: again at once while it
    finds work, after `poll_seconds` when it returns None. A step that raises (a bad item, the
    store away for a moment) is logged, throttled, and counts as finding nothing."""
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(step)
        except Exception:
            failures.error(failed_event, "step", exc_info=True, **log_fields)
            done = None
        if done is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
