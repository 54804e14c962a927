"""A short-lived, per-process cache of bearer-token lookups, so ingest does not read the store."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from control_tower.auth.principal import Principal


class TokenCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str, now: datetime) -> tuple[bool, Principal | None]:
        """(hit, principal); a hit with None means the token is known to be invalid."""
        if self._ttl <= 0:
            return False, None
        entry = self._entries.get(token_hash)  # one dict read: atomic, needs no lock
        if entry is None or entry[0] < time.monotonic():
            return False, None
        principal = entry[1]
        if principal is not None and principal.expires_at and principal.expires_at <= now:
            return True, None
        return True, principal

    def put(self, token_hash: str, principal: Principal | None) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[token_hash] = (time.monotonic() + self._ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
