"""Fixtures for backups: a store with a bit of everything in it, empty stores of either kind to
restore into, and a way to read every table of a store for comparison."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, inspect, select

from control_tower.auth.roles import Role
from control_tower.backups.codec import encode_row
from control_tower.backups.export import exported_tables
from control_tower.catalog import Catalog
from control_tower.db import build_engine, unit_of_work
from control_tower.health.service import record_status_changes
from control_tower.kit.clock import FrozenClock
from control_tower.models import events
from control_tower.routing.router import Router
from control_tower.runs.service import Caller, add_note, cancel_run, start_run
from tests.conftest import PG_ADMIN_DSN, issue_token, postgres_available
from tests.helpers import Emit

# An integer past 64 bits, a float, text outside ASCII: values a backup must keep exactly.
AWKWARD_PAYLOAD = {
    "big": 2**70,
    "negative_big": -(2**65),
    "ratio": 0.1,
    "tiny": 1e-05,
    "text": "Zoë ✓ \u2028",
    "nested": {"b": [1, {"a": None}], "a": True},
}


def populate(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    """Tokens, events (routed), runs with transitions and notes, status history, audit rows,
    spread over three days of the test clock."""
    issue_token(engine, "backup-owner", Role.owner, now=clock.now())
    issue_token(engine, "finance-producer", Role.producer, "finance", now=clock.now())
    for day in range(3):
        for system in ("backend", "portal"):
            emit("system.heartbeat", system, {"system_id": system, "version": f"1.{day}"})
        emit("backend.fn.error", "backend", {"fn_name": "generateInvoice", "severity": "high"})
        router.drain()
        with unit_of_work(engine) as conn:
            record_status_changes(conn, catalog, clock.now())
            accepted = start_run(
                conn, catalog, "portal.notify.retry", {"upload_id": f"u-{day}"},
                caller=Caller("ops-person", Role.operator), now=clock.now(),
            )  # fmt: skip
            add_note(conn, accepted.run_id, "looked at it", author="ops-person", now=clock.now())
            if day == 1:
                cancel_run(conn, catalog, accepted.run_id, actor="ops-person", now=clock.now())
        clock.advance(timedelta(hours=20))
    with unit_of_work(engine) as conn:  # past validation: only the store's types matter here
        conn.execute(
            events.insert().values(
                event_id="awkward-1", type="backend.fn.error", source="backend",
                occurred_at=clock.now(), received_at=clock.now(), correlation_id=None,
                payload=AWKWARD_PAYLOAD, redactions=[], payload_sha256="0" * 64, producer="test",
            )
        )  # fmt: skip


def store_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every exported table present in the store, rows in primary-key order."""
    present = set(inspect(engine).get_table_names())
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in exported_tables():
            if table.name in present:
                query = select(table).order_by(*table.primary_key.columns)
                found[table.name] = [dict(r._mapping) for r in conn.execute(query)]
    return found


def store_checksums(engine: Engine) -> dict[str, str]:
    """A full-table checksum of every table: sha256 over its rows as a backup writes them."""
    sums = {}
    for name, rows in store_rows(engine).items():
        digest = hashlib.sha256()
        for row in rows:
            digest.update(encode_row({str(k): v for k, v in row.items()}) + b"\n")
        sums[name] = digest.hexdigest()
    return sums


EmptyStore = Callable[[str], str]


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[EmptyStore]:
    """Makes a store with no tables at all, of the kind asked ("sqlite" or "postgresql")."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.sqlite3'}"
        # Only asked for when PostgreSQL is among the suite's backends (tests.conftest.backends).
        assert postgres_available(), "PostgreSQL is not reachable"
        name = f"ct_restore_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
        return f"postgresql+psycopg://{base}/{name}"

    yield make
    for name in created:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engines() -> Iterator[Callable[[str], Engine]]:
    """Engines on other stores, disposed at the end."""
    made: list[Engine] = []

    def make(url: str) -> Engine:
        made.append(build_engine(url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def digest_bytes(engine: Engine, catalog: Catalog, day: date) -> tuple[bytes, bytes] | None:
    """The daily digest of `day` (JSON and Markdown bytes), where the reports feature exists;
    None where it does not (then the full-table comparison is what proves the restore)."""
    try:
        from control_tower.reports.links import Links
        from control_tower.reports.service import render_daily
    except ImportError:
        return None
    with unit_of_work(engine, write=False) as conn:
        rendered = render_daily(conn, catalog, day, Links())
    return rendered.json, rendered.markdown
