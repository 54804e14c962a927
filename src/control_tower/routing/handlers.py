"""What the router does with each event: the handlers features register.

A handler looks at a batch of events and returns its effect: a function that writes it on a
connection. The router computes every effect before it opens the write transaction (on SQLite
the write lock is the one ingest waits for, so it is held only for the writes) and commits the
effects in the transaction that marks the events routed, so each event is applied exactly once.
Handlers see the columns named in `router.ROUTED_COLUMNS` of each event. Features add their
handler to the registry when the app is composed (health, correlations; alert rules next).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from control_tower.catalog import Catalog

EventRows = Sequence[Mapping[Any, Any]]
Effect = Callable[[Connection], None]
Handler = Callable[[Catalog, EventRows], Effect]


class HandlerRegistry:
    """The router's handlers, applied in the order they were added."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        if name in self._handlers:
            raise ValueError(f"a routing handler named {name!r} is already registered")
        self._handlers[name] = handler

    def names(self) -> list[str]:
        return list(self._handlers)

    def __iter__(self) -> Iterator[Handler]:
        return iter(list(self._handlers.values()))
