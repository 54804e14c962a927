"""Event retention: events older than the configured age are pruned in batches, only once a
verified backup holds them; health for recent periods and the rollups are unchanged by it."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from control_tower.backups.destination import Location
from control_tower.backups.service import prune_events, take_backup
from control_tower.catalog import Catalog
from control_tower.catalog.backups import BackupsSpec
from control_tower.db import unit_of_work
from control_tower.health import service as health
from control_tower.kit.clock import FrozenClock
from control_tower.models import event_routes, events, system_rollups
from control_tower.routing.router import Router
from tests.backups.conftest import digest_bytes
from tests.helpers import Emit

SPEC = BackupsSpec(event_retention_days=400)
ERROR = {"fn_name": "generateInvoice", "severity": "high"}


def event_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def route_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(event_routes.c.event_id)).scalars())


def rollups(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        query = select(system_rollups).order_by(
            system_rollups.c.system_id, system_rollups.c.bucket_start
        )
        return [tuple(r) for r in conn.execute(query)]


def health_at(engine: Engine, catalog: Catalog, at: datetime) -> dict[str, Any]:
    with unit_of_work(engine, write=False) as conn:
        return health.overview(conn, catalog, at).model_dump(mode="json")


def test_old_events_are_pruned_only_once_a_backup_holds_them(
    engine: Engine,
    catalog: Catalog,
    clock: FrozenClock,
    emit: Emit,
    router: Router,
    tmp_path: Path,
) -> None:
    long_ago = clock.now() - timedelta(days=500)
    old = [emit("backend.fn.error", "backend", ERROR, occurred_at=long_ago + timedelta(minutes=i))
           for i in range(7)]  # fmt: skip
    recent = [emit("system.heartbeat", "backend", {"system_id": "backend"}),
              emit("backend.fn.error", "backend", ERROR)]  # fmt: skip
    router.drain()
    # Stored before the backup, routed after it: the backup holds the event all the same.
    routed_later = emit("backend.fn.error", "backend", ERROR, occurred_at=long_ago)

    skipped = prune_events(engine, SPEC, clock.now())
    assert skipped.pruned == 0
    assert skipped.skipped == "no verified backup yet"
    assert set(old) <= event_ids(engine)

    clock.advance(timedelta(hours=2))
    take_backup(engine, Location.parse(str(tmp_path / "b")), clock, initiator="test")
    after_backup = emit("backend.fn.error", "backend", ERROR, occurred_at=long_ago)
    router.drain(max_batches=1)  # routes both of the last two old events
    now = clock.now()
    health_before, rollups_before = health_at(engine, catalog, now), rollups(engine)
    yesterday = (now - timedelta(days=1)).date()
    digest_before = digest_bytes(engine, catalog, yesterday)

    pruned = prune_events(engine, SPEC, now, batch=3)

    assert pruned.pruned == len(old) + 1
    remaining = event_ids(engine)
    assert not set(old) & remaining
    assert {*recent, after_backup} <= remaining, "recent events and those no backup holds stay"
    assert not set(old) & route_ids(engine)
    assert rollups(engine) == rollups_before
    assert health_at(engine, catalog, now) == health_before
    assert digest_bytes(engine, catalog, yesterday) == digest_before
    assert routed_later not in remaining


def test_pending_events_stay_and_an_unreadable_backup_prunes_nothing(
    engine: Engine,
    clock: FrozenClock,
    emit: Emit,
    tmp_path: Path,
) -> None:
    long_ago = clock.now() - timedelta(days=500)
    pending = emit("backend.fn.error", "backend", ERROR, occurred_at=long_ago)  # never routed
    clock.advance(timedelta(hours=2))
    outcome = take_backup(engine, Location.parse(str(tmp_path / "b")), clock, initiator="test")
    assert prune_events(engine, SPEC, clock.now()).pruned == 0
    assert pending in event_ids(engine)

    shutil.rmtree(outcome.location.path)
    skipped = prune_events(engine, SPEC, clock.now())
    assert skipped.pruned == 0
    assert skipped.skipped is not None
    assert "cannot be read" in skipped.skipped


@pytest.mark.parametrize("days", [1, 29])
def test_retention_cannot_be_shorter_than_the_daily_tier(days: int) -> None:
    with pytest.raises(ValueError, match="event_retention_days"):
        BackupsSpec(event_retention_days=days)
