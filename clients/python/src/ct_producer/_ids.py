"""ULIDs (https://github.com/ulid/spec): 48 bits of milliseconds and 80 random bits, in
Crockford base32, so ids sort by creation time. Monotonic within a process: a second id in the
same millisecond (or after the clock stepped back) is the previous one plus one."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


class _UlidGenerator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self) -> str:
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._last_random = int.from_bytes(os.urandom(10), "big")
            else:
                self._last_random += 1
                if self._last_random >> _RANDOM_BITS:  # 2**80 ids in one millisecond: move on
                    self._last_ms += 1
                    self._last_random = int.from_bytes(os.urandom(10), "big")
            return _encode((self._last_ms << _RANDOM_BITS) | self._last_random)


new_ulid = _UlidGenerator().new
