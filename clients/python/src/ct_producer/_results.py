"""What `send`, `send_batch` and `flush` return."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """The fate of one event.

    `status_code` is what CT answered for it: 202 stored now, 200 a duplicate of a stored event,
    or (batch items only; a single `send` raises instead) the 4xx that refused it, with
    `error_code`. It is None while the event waits in the spool (`spooled`), or when another
    process's flush delivered it.
    """

    event_id: str
    status_code: int | None = None
    duplicate: bool = False
    redactions: tuple[str, ...] = ()
    spooled: bool = False
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0

    @property
    def delivered(self) -> bool:
        """CT holds the event (stored now or before)."""
        return not self.spooled and self.error_code is None

    @property
    def rejected(self) -> bool:
        return self.error_code is not None


@dataclass(frozen=True)
class BatchResult:
    """One `Result` per event, in the order given."""

    results: tuple[Result, ...]

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> Result:
        return self.results[index]

    @property
    def accepted(self) -> int:
        return sum(r.delivered and not r.duplicate for r in self.results)

    @property
    def duplicates(self) -> int:
        return sum(r.delivered and r.duplicate for r in self.results)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.results)

    @property
    def spooled(self) -> int:
        return sum(r.spooled for r in self.results)


@dataclass(frozen=True)
class FlushReport:
    """What one `flush()` did: events acknowledged, moved to `rejected/`, and left waiting."""

    delivered: int
    rejected: int
    remaining: int
