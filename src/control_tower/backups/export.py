"""Write a backup: every table of the store, in one consistent snapshot, streamed.

Tables come from `models.metadata` in its dependency order (parents before children, then by
name), so a table a feature adds is backed up without a change here. Rows are read in primary
key order through a server-side cursor (PostgreSQL) or SQLite's own stepping cursor,
`yield_per` rows at a time, and written through gzip straight to the destination: memory stays
flat whatever the size of the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import metadata as package_metadata

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Integer, Table, func, inspect, select

from control_tower.backups.codec import RowWriter
from control_tower.backups.destination import Location, new_backup_name
from control_tower.backups.manifest import (
    MANIFEST_NAME,
    AuditHead,
    EventsHeld,
    Manifest,
    TableEntry,
)
from control_tower.db import is_sqlite, unit_of_work
from control_tower.models import audit_head, events, metadata

# Tables a backup leaves out, and why. Everything else in `metadata` is exported.
NOT_EXPORTED = {
    # Sign-ins belong to the store they were made on (and hold CSRF secrets): after a restore,
    # people sign in again.
    "ui_sessions",
}
YIELD_PER = 2000


def exported_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if t.name not in NOT_EXPORTED]


def ct_version() -> str:
    try:
        return package_metadata.version("control-tower")
    except package_metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction in which every table is read as of one moment."""
    if is_sqlite(engine):
        # WAL: a read transaction sees the database as of its first read until it ends.
        with unit_of_work(engine, write=False) as conn:
            yield conn
        return
    # PostgreSQL: REPEATABLE READ gives every statement of the transaction one snapshot.
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def export_table(conn: Connection, table: Table, folder: Location) -> TableEntry:
    primary_key = list(table.primary_key.columns)
    columns = [str(c.name) for c in table.columns]
    file = f"{table.name}.jsonl.gz"
    streaming = conn.execution_options(stream_results=True, yield_per=YIELD_PER)
    with folder.open(file, "wb") as raw:
        writer = RowWriter(raw, columns)
        result = streaming.execute(select(table).order_by(*primary_key))
        for partition in result.partitions():
            for row in partition:
                writer.write(row)
        rows, size, sha256 = writer.close()
    max_key = None
    if len(primary_key) == 1 and isinstance(primary_key[0].type, Integer):
        max_key = conn.execute(select(func.max(primary_key[0]))).scalar()
    return TableEntry(
        name=table.name, file=file, rows=rows, bytes=size, sha256=sha256, columns=columns,
        primary_key=[c.name for c in primary_key], max_key=max_key,
    )  # fmt: skip


def _events_held(conn: Connection) -> EventsHeld:
    max_seq = conn.execute(select(func.max(events.c.seq))).scalar()
    # Read through the column (not min()/max(), which bypass its type on SQLite's text).
    oldest, newest = (
        conn.execute(select(events.c.occurred_at).order_by(order).limit(1)).scalar()
        for order in (events.c.occurred_at.asc(), events.c.occurred_at.desc())
    )
    return EventsHeld(max_seq=max_seq, oldest_occurred_at=oldest, newest_occurred_at=newest)


def write_backup(engine: Engine, destination: Location, now: datetime) -> tuple[Location, Manifest]:
    """Export the store into a new folder of `destination`; the manifest is written last.

    A failure removes the half-written folder (a folder without a manifest is never taken for
    a backup, so one left behind by a crash is only clutter, swept by tier pruning).
    """
    destination.makedirs()
    folder = destination.child(new_backup_name(destination, now))
    folder.makedirs()
    try:
        with snapshot(engine) as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            if revision is None:
                raise RuntimeError("the store has no schema revision: run `ct db upgrade`")
            present = set(inspect(conn).get_table_names())
            tables = exported_tables()
            # A table of this CT's models that the store lacks belongs to a later revision
            # than the store's: the backup holds the store as it is, at its revision.
            absent = [t.name for t in tables if t.name not in present]
            entries = [export_table(conn, t, folder) for t in tables if t.name in present]
            head = conn.execute(select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
            held = _events_held(conn)
        manifest = Manifest(
            name=folder.name,
            created_at=now,
            ct_version=ct_version(),
            schema_revision=revision,
            source_dialect=engine.dialect.name,
            audit_head=AuditHead(last_seq=head.last_seq, last_hash=head.last_hash),
            events=held,
            tables=entries,
            absent_tables=absent,
        )
        with folder.open(MANIFEST_NAME, "wb") as f:
            f.write(manifest.to_bytes())
    except BaseException:
        with contextlib.suppress(Exception):
            folder.remove()
        raise
    return folder, manifest
