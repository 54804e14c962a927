"""Background loops: async callables that work until a shared stop event is set.

`ct serve` starts them in the app's lifespan, `ct worker` on their own; either way the same
list of loops (run worker now, the event router and others later).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

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
