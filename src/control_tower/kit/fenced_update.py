"""The fenced update lease workers share: change a row only if it is still as they left it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Table, update


def fenced_update(
    conn: Connection, table: Table, key: Column[Any], key_value: Any,
    values: dict[str, Any], expect: dict[str, Any],
) -> bool:  # fmt: skip
    """Update the row whose `key` is `key_value` if its columns still hold `expect` (a stale
    worker, whose lease was taken over, changes nothing); whether it did."""
    conditions = [key == key_value]
    for column, value in expect.items():
        col = table.c[column]
        conditions.append(col.is_(None) if value is None else col == value)
    result = conn.execute(update(table).where(*conditions).values(**values))
    return result.rowcount == 1
