"""How a table's rows become one gzip-compressed JSON Lines file and back, exactly.

One line per row: a JSON object keyed by column name, keys sorted. Integers stay integers however
long (orjson refuses those past 64 bits; the stdlib writes and reads them), datetimes are UTC
ISO-8601 (`2026-12-06T02:30:00.123456+00:00`), JSON columns are nested JSON, NULL is null.
The gzip stream has no name and a zero mtime, so the same rows always give the same bytes. The
sha256 in the manifest is of the compressed file as stored, computed while it is written and
again while it is read, so nothing is ever held whole in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO, Any

import orjson
from sqlalchemy import Table

from control_tower.kit.json_text import may_hold_long_integer
from control_tower.models.base import UTCDateTime

# zlib level 6 (gzip's default) took 2.3 times the CPU of level 1 on event rows for a sixth
# less size (3.8 against 4.6 MB per 50,000 events); level 1 keeps compression a fifth of the
# export's cost (docs/backups.md, "Speed").
COMPRESS_LEVEL = 1
_FLUSH_BYTES = 1 << 18


class HashingWriter:
    """A write-only stream that counts and hashes what passes through to `raw`."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        self._raw.write(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()


class HashingReader:
    """A read-only stream that counts and hashes what is read from `raw`."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def seek(self, _offset: int, /) -> int:
        raise io.UnsupportedOperation("a backup file is read once, front to back")

    def drain(self) -> None:
        """Read to the end, so the hash covers bytes a reader of the gzip stream left."""
        while self.read(1 << 20):
            pass


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def encode_row(row: dict[str, Any]) -> bytes:
    """One line. Keys are sorted at every level: PostgreSQL's JSONB keeps an object's keys in
    its own order and SQLite's JSON text in the writer's, and the same rows must give the
    same bytes on both stores."""
    try:
        return orjson.dumps(row, default=_default, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer past 64 bits: the stdlib writes it exactly
        return json.dumps(
            row, default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
            sort_keys=True,
        ).encode("utf-8")  # fmt: skip


def decode_line(line: bytes) -> dict[str, Any]:
    value = json.loads(line) if may_hold_long_integer(line) else orjson.loads(line)
    if not isinstance(value, dict):
        raise ValueError("a line is not a JSON object")
    return value


class RowWriter:
    """Writes rows to one `.jsonl.gz` file; `close()` returns (rows, bytes, sha256)."""

    def __init__(self, raw: IO[bytes], columns: Sequence[str]) -> None:
        self._hashing = HashingWriter(raw)
        self._gzip = gzip.GzipFile(
            fileobj=self._hashing,
            mode="wb",
            compresslevel=COMPRESS_LEVEL,
            mtime=0,
        )
        self._columns = tuple(str(c) for c in columns)  # names may be str subclasses
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.rows = 0

    def write(self, values: Sequence[Any]) -> None:
        line = encode_row(dict(zip(self._columns, values, strict=True)))
        self._pending.append(line)
        self._pending_bytes += len(line) + 1
        self.rows += 1
        if self._pending_bytes >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._pending.append(b"")
            self._gzip.write(b"\n".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def close(self) -> tuple[int, int, str]:
        self._flush()
        self._gzip.close()
        self._hashing.flush()
        return self.rows, self._hashing.bytes, self._hashing.sha256.hexdigest()


class FileDamaged(Exception):
    """The file is not the gzip-compressed JSON Lines a backup writes."""


def read_lines(raw: IO[bytes]) -> tuple[Iterator[bytes], HashingReader]:
    """The file's lines, as they are decompressed, and the reader that hashes the file.

    The reader's hash and byte count are complete once the iterator is exhausted.
    """
    hashing = HashingReader(raw)

    def lines() -> Iterator[bytes]:
        try:
            with gzip.GzipFile(fileobj=hashing, mode="rb") as stream:
                for line in stream:
                    if line.strip():
                        yield line
        except (OSError, EOFError, zlib.error) as exc:
            raise FileDamaged(f"not a complete gzip file: {exc}") from exc
        hashing.drain()

    return lines(), hashing


def datetime_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, UTCDateTime))


def decode_values(row: dict[str, Any], datetimes: frozenset[str]) -> dict[str, Any]:
    """A decoded line as column values for an INSERT: timestamps back to datetimes."""
    for name in datetimes:
        value = row.get(name)
        if value is not None:
            row[name] = datetime.fromisoformat(value)
    return row
