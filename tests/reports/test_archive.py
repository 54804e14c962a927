"""The archive: files with checksums under the data folder, written once; making a period again
with the same bytes does nothing, with other bytes is refused and logged."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.kit.errors import NotFound
from control_tower.reports import service
from control_tower.reports.schemas import ReportKind
from control_tower.routing.router import Router
from tests.helpers import Emit
from tests.reports.conftest import LINKS, london

DAY = date(2026, 11, 26)
FOLDER = Path("reports/daily/2026")


def make(
    engine: Engine, catalog: Catalog, data_dir: Path, period: str = "2026-11-26"
) -> service.Made:
    kind: ReportKind = "weekly" if "W" in period else "daily"
    with unit_of_work(engine) as conn:
        return service.make(conn, catalog, kind, period, links=LINKS, data_dir=data_dir,
                            now=london(2026, 12, 1, 9))  # fmt: skip


def test_a_report_is_archived_once_with_checksums(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router,
    data_dir: Path,
) -> None:  # fmt: skip
    clock.set(london(2026, 11, 27, 8))
    emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"},
         occurred_at=london(2026, 11, 26, 10))  # fmt: skip
    router.drain()

    first = make(engine, catalog, data_dir)

    assert first.outcome == "archived"
    report = first.archived.rendered
    files = sorted(p.name for p in (data_dir / FOLDER).iterdir())
    assert files == ["2026-11-26.json", "2026-11-26.json.sha256", "2026-11-26.md",
                     "2026-11-26.md.sha256"]  # fmt: skip
    stored = (data_dir / FOLDER / "2026-11-26.json").read_bytes()
    assert stored == report.json
    assert (data_dir / FOLDER / "2026-11-26.md").read_bytes() == report.markdown
    digest = hashlib.sha256(stored).hexdigest()
    assert (data_dir / FOLDER / "2026-11-26.json.sha256").read_text() == (
        f"{digest}  2026-11-26.json\n")  # fmt: skip
    assert first.html is not None
    assert "<h1>" in first.html

    again = make(engine, catalog, data_dir)
    assert again.outcome == "unchanged"
    assert again.archived.rendered == report


def test_a_regeneration_that_differs_is_refused_and_logged_never_overwritten(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router,
    data_dir: Path,
) -> None:  # fmt: skip
    clock.set(london(2026, 11, 27, 8))
    emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"},
         occurred_at=london(2026, 11, 26, 10))  # fmt: skip
    router.drain()
    first = make(engine, catalog, data_dir)
    files = {p.name: p.read_bytes() for p in (data_dir / FOLDER).iterdir()}
    # A late event for that day arrives after the digest was made.
    clock.set(london(2026, 11, 28, 8))
    emit("backend.fn.error", "backend", {"fn_name": "late", "severity": "low"},
         occurred_at=london(2026, 11, 26, 11))  # fmt: skip
    router.drain()

    with capture_logs() as logs:
        again = make(engine, catalog, data_dir)

    assert again.outcome == "refused"
    assert again.archived.rendered == first.archived.rendered
    assert again.html is None
    assert {p.name: p.read_bytes() for p in (data_dir / FOLDER).iterdir()} == files
    [refused] = [line for line in logs if line["event"] == "report_regeneration_refused"]
    assert refused["period"] == "2026-11-26"
    assert refused["archived_json_sha256"] != refused["new_json_sha256"]


def test_files_missing_on_this_replica_are_written_from_the_store(
    engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    make(engine, catalog, tmp_path / "replica-a")
    again = make(engine, catalog, tmp_path / "replica-b")
    assert again.outcome == "unchanged"
    assert (tmp_path / "replica-b" / FOLDER / "2026-11-26.json").read_bytes() == (
        tmp_path / "replica-a" / FOLDER / "2026-11-26.json").read_bytes()  # fmt: skip


def test_a_weekly_trend_is_archived_by_iso_week(
    engine: Engine, catalog: Catalog, data_dir: Path
) -> None:
    made = make(engine, catalog, data_dir, "2026-W48")
    assert made.outcome == "archived"
    assert (data_dir / "reports/weekly/2026/2026-W48.md").read_bytes() == (
        made.archived.rendered.markdown)  # fmt: skip


def test_a_period_that_has_not_ended_is_not_made(
    engine: Engine, catalog: Catalog, data_dir: Path
) -> None:
    with pytest.raises(NotFound, match="not ended"), unit_of_work(engine) as conn:
        service.make(conn, catalog, "daily", "2026-11-26", links=LINKS, data_dir=data_dir,
                     now=london(2026, 11, 26, 23, 59))  # fmt: skip
    assert not data_dir.exists()
