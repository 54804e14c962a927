"""The write-once archive of reports: an index row in the store (`report_archive`, with the
bytes, so every replica serves the same ones) and files under the data folder:

    <data_dir>/reports/daily/2026/2026-11-26.json  .json.sha256  .md  .md.sha256
    <data_dir>/reports/weekly/2026/2026-W48.json   …

The first version of a period stays. Making it again with the same bytes does nothing; with
other bytes (the store learnt something about that period since) it is refused and logged,
never overwritten. Files are written whole to a temporary name, synced, then linked into place,
so a crash never leaves half a file; a `.sha256` file reads like `sha256sum`'s output.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from sqlalchemy import Connection, Row, select, update

from control_tower.db import conflict_insert
from control_tower.models import report_archive
from control_tower.reports.schemas import ReportKind

log = structlog.get_logger(__name__)

ArchiveOutcome = Literal["archived", "unchanged", "refused"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Rendered:
    """One report made: its JSON and Markdown bytes (and the HTML an email carries)."""

    kind: ReportKind
    period: str  # 2026-11-26 | 2026-W48
    json: bytes
    markdown: bytes
    html: str | None = None


@dataclass(frozen=True)
class Archived:
    rendered: Rendered  # the archived bytes (the first version made)
    created_at: datetime
    late: bool
    delivered_at: datetime | None


def _archived(row: Row[Any]) -> Archived:
    rendered = Rendered(row.kind, row.period, row.json_body.encode(), row.md_body.encode())
    return Archived(rendered, row.created_at, row.late, row.delivered_at)


def find(conn: Connection, kind: ReportKind, period: str) -> Archived | None:
    row = conn.execute(
        select(report_archive).where(report_archive.c.kind == kind,
                                     report_archive.c.period == period)
    ).first()  # fmt: skip
    return _archived(row) if row is not None else None


def latest(conn: Connection, kind: ReportKind) -> Archived | None:
    """The archived report of the latest period (names sort as their periods do)."""
    row = conn.execute(
        select(report_archive)
        .where(report_archive.c.kind == kind)
        .order_by(report_archive.c.period.desc())
        .limit(1)
    ).first()
    return _archived(row) if row is not None else None


def store(
    conn: Connection, data_dir: Path, made: Rendered, *, now: datetime, late: bool
) -> tuple[ArchiveOutcome, Archived]:
    """Archive `made` unless its period is archived already; the outcome and what the archive
    holds (the first version: on "refused", not `made`)."""
    inserted = conn.execute(
        conflict_insert(conn, report_archive)
        .values(kind=made.kind, period=made.period, created_at=now, late=late,
                json_sha256=sha256_hex(made.json), md_sha256=sha256_hex(made.markdown),
                json_body=made.json.decode(), md_body=made.markdown.decode())
        .on_conflict_do_nothing(index_elements=["kind", "period"])
        .returning(report_archive.c.kind)
    ).first() is not None  # fmt: skip
    held = find(conn, made.kind, made.period)
    assert held is not None
    if inserted:
        outcome: ArchiveOutcome = "archived"
    elif (held.rendered.json, held.rendered.markdown) == (made.json, made.markdown):
        outcome = "unchanged"
    else:
        outcome = "refused"
        log.warning(
            "report_regeneration_refused", kind=made.kind, period=made.period,
            archived_json_sha256=sha256_hex(held.rendered.json),
            new_json_sha256=sha256_hex(made.json),
            archived_md_sha256=sha256_hex(held.rendered.markdown),
            new_md_sha256=sha256_hex(made.markdown),
        )  # fmt: skip
    write_files(data_dir, held.rendered)
    return outcome, held


def mark_delivered(conn: Connection, kind: ReportKind, period: str, now: datetime) -> None:
    conn.execute(
        update(report_archive)
        .where(report_archive.c.kind == kind, report_archive.c.period == period,
               report_archive.c.delivered_at.is_(None))
        .values(delivered_at=now)
    )  # fmt: skip


def folder(data_dir: Path, kind: ReportKind, period: str) -> Path:
    return data_dir / "reports" / kind / period[:4]


def write_files(data_dir: Path, report: Rendered) -> None:
    """The report's files, each written once: a file already there is left as it is (and
    logged when it differs, which only a hand edit or another store can cause)."""
    target = folder(data_dir, report.kind, report.period)
    target.mkdir(parents=True, exist_ok=True)
    for suffix, body in (("json", report.json), ("md", report.markdown)):
        name = f"{report.period}.{suffix}"
        _write_once(target / name, body)
        _write_once(target / f"{name}.sha256", f"{sha256_hex(body)}  {name}\n".encode())


def _write_once(path: Path, body: bytes) -> None:
    if path.exists():
        if (found := path.read_bytes()) != body:
            log.error("report_archive_file_differs", path=str(path),
                      file_sha256=sha256_hex(found), expected_sha256=sha256_hex(body))  # fmt: skip
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(tmp, path)  # fails if another writer got there first: theirs stays
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
