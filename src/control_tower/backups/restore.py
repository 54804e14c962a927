"""Load a verified backup into an empty store, in one transaction.

Rows go back with plain INSERTs, parents first, so the append-only triggers (which refuse only
UPDATE and DELETE) and the foreign keys hold throughout. Every file is hashed and counted again
as it is loaded: a file changed after `verify` rolls the whole restore back. On PostgreSQL each
serial column's sequence is moved past the largest restored key, so later inserts never
collide; SQLite's integer keys follow the largest rowid by themselves. The audit chain is
verified inside the transaction before it commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Table, delete, func, inspect, select, text

from control_tower.audit import chain
from control_tower.backups.codec import datetime_columns, decode_values
from control_tower.backups.destination import Location
from control_tower.backups.manifest import Manifest, TableEntry
from control_tower.backups.verify import BackupInvalid, table_rows
from control_tower.db import unit_of_work
from control_tower.kit.errors import Conflict
from control_tower.models import audit_head, metadata

INSERT_BATCH = 1000


class StoreNotEmpty(Conflict):
    code = "store_not_empty"


def store_problems(conn: Connection) -> list[str]:
    """Why the store is not empty: each table holding rows (audit_head's genesis row aside)."""
    present = set(inspect(conn).get_table_names())
    found = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue
        rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if table is audit_head:
            head = conn.execute(select(audit_head.c.last_seq)).scalars().all()
            if head in ([], [0]):
                continue
        if rows:
            found.append(f"{table.name} has {rows} rows")
    return found


def _batches(rows: Iterator[dict[str, Any]], table: Table) -> Iterator[list[dict[str, Any]]]:
    datetimes = datetime_columns(table)
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(decode_values(row, datetimes))
        if len(batch) >= INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_table(conn: Connection, folder: Location, entry: TableEntry) -> int:
    table = metadata.tables.get(entry.name)
    if table is None:
        raise BackupInvalid(f"the backup holds table {entry.name!r}, which this CT does not know")
    unknown = set(entry.columns) - set(table.columns.keys())
    if unknown:
        raise BackupInvalid(f"{entry.name}: columns {sorted(unknown)} are unknown to this CT")
    rows, reader = table_rows(folder, entry)
    count = 0
    for batch in _batches(rows, table):
        conn.execute(table.insert(), batch)
        count += len(batch)
    if reader.sha256.hexdigest() != entry.sha256 or count != entry.rows:
        raise BackupInvalid(f"{entry.file} changed while it was restored; nothing was restored")
    return count


def advance_sequences(conn: Connection) -> None:
    """PostgreSQL: every serial key's sequence continues after the largest restored value."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: an INTEGER PRIMARY KEY takes max(rowid) + 1 by itself
    present = set(inspect(conn).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in present:  # a later revision's table: the store is older
            continue
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if sequence is None:
                continue
            top = conn.execute(select(func.max(column))).scalar() or 0
            conn.execute(text("SELECT setval(:s, :v, false)"), {"s": sequence, "v": int(top) + 1})


def load_backup(engine: Engine, folder: Location, manifest: Manifest) -> dict[str, int]:
    """Insert every table of the backup; rows per table. Refuses a store that holds rows."""
    with unit_of_work(engine) as conn:
        problems = store_problems(conn)
        if problems:
            raise StoreNotEmpty(
                "the store is not empty (" + "; ".join(problems) + "): restore only into an "
                "empty store — a new database, or CT_DATABASE_URL pointing at a new SQLite file"
            )
        conn.execute(delete(audit_head))  # the genesis row a new store starts with
        counts = {entry.name: _load_table(conn, folder, entry) for entry in manifest.tables}
        advance_sequences(conn)
        verified = chain.verify(conn)
        if not verified.ok:
            raise BackupInvalid(f"the restored audit chain does not verify: {verified.problem}")
    return counts
