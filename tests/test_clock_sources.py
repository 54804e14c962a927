"""CT reads time from Python's clock only (the `Clock` seam, or `time`/`datetime`), never from
the database: the date-independence guard moves Python's clock, not the PostgreSQL server's,
and a rule that mixed the two would drift when they disagree."""

from __future__ import annotations

import re
from pathlib import Path

import control_tower

DATABASE_CLOCK = re.compile(
    r"func\.now\b|func\.current_timestamp|CURRENT_(TIMESTAMP|DATE|TIME)\b|[\"'][^\"'\n]*(?<![.\w])now\(\)"
    r"|clock_timestamp|statement_timestamp|transaction_timestamp|LOCALTIMESTAMP"
    r"|datetime\('now'|julianday\('now'|strftime\('%s', *'now'",
    re.IGNORECASE,
)


def test_no_sql_reads_the_database_clock() -> None:
    root = Path(control_tower.__file__).parent
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DATABASE_CLOCK.search(line)
    ]
    assert found == []


def test_the_pattern_finds_each_way_of_asking_the_database() -> None:
    for sql in (
        "sa.func.now()",
        "server_default=func.current_timestamp()",
        'text("DELETE FROM t WHERE at < now() - interval :age")',
        "SELECT CURRENT_TIMESTAMP",
        "strftime('%s', 'now')",
        "datetime('now')",
    ):
        assert DATABASE_CLOCK.search(sql), sql
    assert not DATABASE_CLOCK.search("now = self.clock.now()")
    assert not DATABASE_CLOCK.search("clock.now() - timedelta(days=1)")
    assert not DATABASE_CLOCK.search('f"{int(ctx.clock.now().timestamp())}.x"')
