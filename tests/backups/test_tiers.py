"""Retention tiers over 400 simulated days on the suite's clock: a backup every night at 02:30
London, pruned after each; what is left is one a day for 30 days, one an ISO week for 180, one
a month for 365 (backups/tiers.py has the rule)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import fsspec
import pytest
from sqlalchemy import Engine

from control_tower.backups.destination import Location, list_backups, new_backup_name
from control_tower.backups.manifest import MANIFEST_NAME, AuditHead, EventsHeld, Manifest
from control_tower.backups.service import prune_backups
from control_tower.catalog.backups import BackupsSpec
from control_tower.kit.clock import FrozenClock

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def destination() -> Iterator[Location]:
    location = Location.parse(f"memory://tiers-{uuid.uuid4().hex[:8]}")
    yield location
    fs = fsspec.filesystem("memory")
    if fs.exists(location.path):
        fs.rm(location.path, recursive=True)


def fake_backup(destination: Location, created_at: datetime) -> Location:
    """A backup folder with only its manifest: all that tier pruning reads."""
    folder = destination.child(new_backup_name(destination, created_at))
    folder.makedirs()
    manifest = Manifest(
        name=folder.name, created_at=created_at, ct_version="test", schema_revision="test",
        source_dialect="sqlite", audit_head=AuditHead(last_seq=0, last_hash="0" * 64),
        events=EventsHeld(max_seq=None, oldest_occurred_at=None, newest_occurred_at=None),
        tables=[],
    )  # fmt: skip
    with folder.open(MANIFEST_NAME, "wb") as f:
        f.write(manifest.to_bytes())
    return folder


def kept_moments(destination: Location) -> list[datetime]:
    return sorted(b.manifest.created_at for b in list_backups(destination) if b.manifest)


def test_tiers_over_400_simulated_days(
    engine: Engine, clock: FrozenClock, destination: Location
) -> None:
    spec = BackupsSpec()
    schedule = spec.parsed_schedule
    clock.set(schedule.next_after(clock.now()))
    now = clock.now()
    for day in range(400):
        slot = schedule.slot_at_or_before(clock.now())
        fake_backup(destination, slot)
        outcome = prune_backups(engine, destination, spec, clock.now())
        kept = kept_moments(destination)
        assert kept[-1] == slot, "the newest backup is always kept"
        assert "newest" in outcome.kept[destination.child(new_name(slot)).name]
        recent = [k for k in kept if clock.now() - k < timedelta(days=30)]
        # Every night of the last 30 days (31 nights when clocks went forward in them).
        nights = schedule.slots_between(clock.now() - timedelta(days=30), clock.now())
        assert recent == nights[-(day + 1) :], "one a day for the last 30 days"
        assert len(kept) <= 30 + 26 + 13
        now = clock.now()
        clock.set(schedule.next_after(now))
    kept = kept_moments(destination)
    assert len(kept) == len(set(kept))
    older = [k for k in kept if now - k >= timedelta(days=30)]
    weekly = [k for k in older if now - k < timedelta(days=180)]
    monthly = [k for k in older if now - k >= timedelta(days=180)]
    assert all(now - k < timedelta(days=365) for k in kept), "nothing past a year"
    # Past the daily tier, a backup is the last of its ISO week (a Sunday) or of its month.
    for moment in weekly:
        local = moment.astimezone(LONDON)
        last_of_month = (local + timedelta(days=1)).month != local.month
        assert local.isoweekday() == 7 or last_of_month, local
    weeks = {k.astimezone(LONDON).isocalendar()[:2] for k in weekly if _is_sunday(k)}
    assert len(weeks) == len([k for k in weekly if _is_sunday(k)]), "one per ISO week"
    assert len(weeks) >= 21  # 150 days of weeks, less the partial ones at each end
    for moment in monthly:
        local = moment.astimezone(LONDON)
        assert (local + timedelta(days=1)).month != local.month, "the last of its month"
    assert len({(k.year, k.month) for k in monthly}) == len(monthly) >= 5


def _is_sunday(moment: datetime) -> bool:
    return moment.astimezone(LONDON).isoweekday() == 7


def new_name(slot: datetime) -> str:
    return "ct-" + slot.strftime("%Y%m%dT%H%M%SZ")


def test_unfinished_folders_are_swept_after_two_days_and_unreadable_ones_left_alone(
    engine: Engine, clock: FrozenClock, destination: Location
) -> None:
    spec = BackupsSpec()
    fake_backup(destination, clock.now())
    stale = destination.child(new_name(clock.now() - timedelta(days=3)))
    stale.makedirs()
    with stale.open("events.jsonl.gz", "wb") as f:
        f.write(b"half")
    fresh = destination.child(new_name(clock.now() - timedelta(hours=1)))
    fresh.makedirs()
    with fresh.open("events.jsonl.gz", "wb") as f:
        f.write(b"being written")
    edited = fake_backup(destination, clock.now() - timedelta(days=90))
    with edited.open(MANIFEST_NAME, "wb") as f:
        f.write(b'{"edited": true}')
    outcome = prune_backups(engine, destination, spec, clock.now())
    assert outcome.deleted == [stale.name]
    assert outcome.left_alone == [edited.name]
    assert fresh.exists()
    assert edited.exists()
    assert not stale.exists()
