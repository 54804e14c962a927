"""No successful backup for 26 hours turns CT's own system red, with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from control_tower.backups.destination import Location
from control_tower.backups.health import OBJECTIVE
from control_tower.backups.service import take_backup
from control_tower.backups.tasks import register_backup_objective
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import service as health
from control_tower.health.objectives import EXTRA_OBJECTIVES
from control_tower.health.schemas import HealthStatus, System
from control_tower.kit.clock import FrozenClock


@pytest.fixture
def objective(catalog: Catalog) -> Iterator[None]:
    register_backup_objective(EXTRA_OBJECTIVES, catalog)
    yield
    EXTRA_OBJECTIVES.remove(OBJECTIVE)


def ct_system(engine: Engine, catalog: Catalog, clock: FrozenClock) -> System:
    with unit_of_work(engine, write=False) as conn:
        overview = health.overview(conn, catalog, clock.now())
    return next(s for s in overview.systems if s.system_id == "ct")


def backup_reasons(system: System) -> list[str]:
    return [f"{r.status.value}: {r.message}" for r in system.reasons if r.objective == OBJECTIVE]


@pytest.mark.usefixtures("objective")
def test_ct_turns_red_after_26_hours_without_a_successful_backup(
    engine: Engine, catalog: Catalog, clock: FrozenClock, tmp_path: Path
) -> None:
    assert backup_reasons(ct_system(engine, catalog, clock)) == [], "no attempt, nothing to say"
    destination = Location.parse(str(tmp_path / "backups"))
    take_backup(engine, destination, clock, initiator="test")

    clock.advance(timedelta(hours=26))
    system = ct_system(engine, catalog, clock)
    assert system.status is not HealthStatus.red
    assert backup_reasons(system) == []  # green reasons of a system without signals are not shown

    clock.advance(timedelta(minutes=1))
    system = ct_system(engine, catalog, clock)
    assert system.status is HealthStatus.red
    [reason] = backup_reasons(system)
    assert reason.startswith("red: last successful backup 26.0 h ago")

    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    with pytest.raises(OSError):  # noqa: PT011 - the filesystem's own error
        take_backup(engine, Location.parse(str(unwritable / "x")), clock, initiator="test")
    [reason] = backup_reasons(ct_system(engine, catalog, clock))
    assert "last attempt failed: " in reason

    take_backup(engine, destination, clock, initiator="test")
    assert ct_system(engine, catalog, clock).status is not HealthStatus.red


@pytest.mark.usefixtures("objective")
def test_a_destination_that_never_worked_turns_red_a_day_after_the_first_try(
    engine: Engine, catalog: Catalog, clock: FrozenClock, tmp_path: Path
) -> None:
    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    with pytest.raises(OSError):  # noqa: PT011
        take_backup(engine, Location.parse(str(unwritable / "x")), clock, initiator="test")
    assert ct_system(engine, catalog, clock).status is not HealthStatus.red
    clock.advance(timedelta(hours=27))
    [reason] = backup_reasons(ct_system(engine, catalog, clock))
    assert reason.startswith("red: no backup has succeeded yet")
