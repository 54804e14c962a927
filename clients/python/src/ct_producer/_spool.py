"""The durable local spool: one file per event, delivered oldest first.

A file is written to a temporary name, fsynced, renamed into place and the directory fsynced,
so once `put` returns the event survives a crash or a power cut, and a reader never sees half a
file. Files are named by a clock that only moves forward within a process (then the pid), so
sorting names sorts events by when they were spooled. A flush holds an exclusive `flock` on
`.lock`, so two threads or processes sharing a spool deliver it in order, one at a time.
A file removed after CT acknowledged it but before the removal reached the disk is sent again
after a crash: CT answers it as a duplicate, so nothing is stored twice. POSIX only (`fcntl`).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ct_producer._events import Envelope, to_json

SUFFIX = ".json"
REJECTED = "rejected"
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class SpoolEntry:
    name: str
    event_id: str
    body: bytes


class _Names:
    """File names that sort in spooling order: nanoseconds that never go back, then the pid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:020d}-{os.getpid()}{SUFFIX}"


_names = _Names()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(directory: Path, name: str, data: bytes) -> None:
    """Write `directory/name` atomically and fsync it; the caller fsyncs the directory."""
    temporary = directory / f"{_TEMP_PREFIX}{os.getpid()}-{name}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.rejected_directory = self.directory / REJECTED
        if not self.rejected_directory.is_dir():
            self.rejected_directory.mkdir(parents=True, exist_ok=True)
            _fsync_directory(self.directory)
            _fsync_directory(self.directory.parent)

    def put(self, envelopes: Sequence[Envelope]) -> list[str]:
        """Spool the events durably, in this order; their file names."""
        names = []
        for envelope in envelopes:
            name = _names.next()
            record = {"event_id": envelope.event_id, "body": envelope.body.decode("utf-8")}
            _write_durably(self.directory, name, to_json(record))
            names.append(name)
        _fsync_directory(self.directory)
        return names

    def pending(self) -> list[str]:
        """Names of the waiting events, oldest first."""
        with os.scandir(self.directory) as entries:
            names = [
                e.name
                for e in entries
                if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file()
            ]
        return sorted(names)

    def oldest(self, limit: int, max_bytes: int) -> list[SpoolEntry]:
        """The oldest waiting events, at most `limit` of them and `max_bytes` of bodies (but at
        least one). A file that is not a spool record is moved to `rejected/`."""
        found: list[SpoolEntry] = []
        size = 0
        for name in self.pending():
            entry = self.read(name)
            if entry is None:
                continue
            size += len(entry.body)
            if found and (len(found) >= limit or size > max_bytes):
                break
            found.append(entry)
        return found

    def read(self, name: str) -> SpoolEntry | None:
        try:
            raw = (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(raw)
            return SpoolEntry(name, str(record["event_id"]), str(record["body"]).encode("utf-8"))
        except (ValueError, KeyError, TypeError):
            self.reject(name, {"code": "unreadable_spool_file", "message": "not a spool record"})
            return None

    def contains(self, name: str) -> bool:
        return (self.directory / name).exists()

    def remove(self, name: str) -> None:
        # No fsync: if the removal is lost in a crash, the event is sent again as a duplicate.
        (self.directory / name).unlink(missing_ok=True)

    def reject(self, name: str, reason: Mapping[str, Any]) -> None:
        """Move an event CT refused to `rejected/NAME`, with the reason in the file."""
        source = self.directory / name
        try:
            raw = source.read_bytes()
        except FileNotFoundError:
            return
        try:
            record: dict[str, Any] = json.loads(raw)
            if not isinstance(record, dict):
                raise TypeError
        except (ValueError, TypeError):
            record = {"raw": raw.decode("utf-8", "replace")}
        record["rejected"] = {**reason, "at": time.time()}
        _write_durably(self.rejected_directory, name, to_json(record))
        _fsync_directory(self.rejected_directory)
        source.unlink(missing_ok=True)

    def rejection(self, name: str) -> dict[str, Any] | None:
        """The reason an event was moved to `rejected/`, or None if it was not."""
        try:
            record = json.loads((self.rejected_directory / name).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        reason = record.get("rejected") if isinstance(record, dict) else None
        return reason if isinstance(reason, dict) else None

    def sweep_temporary_files(self) -> None:
        """Remove half-written files left by processes that died while writing them."""
        for folder in (self.directory, self.rejected_directory):
            for path in folder.glob(f"{_TEMP_PREFIX}*"):
                pid = path.name.removeprefix(_TEMP_PREFIX).split("-", 1)[0]
                if pid.isdigit() and not _alive(int(pid)):
                    path.unlink(missing_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool's flush lock, waiting for it."""
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def try_lock(self) -> int | None:
        """The lock's file descriptor if it was free (release with `unlock`), else None."""
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unlock(fd: int) -> None:
        os.close(fd)

    def _open_lock(self) -> int:
        return os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
