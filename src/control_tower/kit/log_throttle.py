"""One log line per kind of failure per interval, however often it happens.

When the store goes away, every request and every background pass fails the same way; a line
(with its traceback) for each would bury the log. The first failure of a kind is logged in
full; later ones within the interval are counted, and the next line says how many were not
logged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog


class ThrottledLog:
    def __init__(self, name: str, interval_seconds: float = 10.0) -> None:
        self._log = structlog.get_logger(name)
        self._interval = interval_seconds
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def error(self, event: str, kind: str, **fields: Any) -> bool:
        """Log `event` unless a line of this `kind` was logged within the interval; whether it
        was logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        self._log.error(event, kind=kind, not_logged_since_last=suppressed, **fields)
        return True
