"""Fixtures for the reports: a catalogue whose reports go to a channel, times in London, and
helpers that write status history and read a digest."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.loader import default_catalog_text, parse_catalog
from control_tower.db import unit_of_work
from control_tower.models import system_status_changes
from control_tower.reports.links import Links

LONDON = ZoneInfo("Europe/London")
LINKS = Links("https://ct.swan.test")


def london(*args: int, fold: int = 0) -> datetime:
    """A wall-clock time in London (fold=1: the second 01:30 of the October change)."""
    return datetime(*args, tzinfo=LONDON, fold=fold)  # type: ignore[misc]


def catalog_with_channels() -> Catalog:
    """The default catalogue with channels declared (those its alert rules name too), the
    reports sent to `ops-slack`."""
    text = default_catalog_text().replace("    channels: []\n", "    channels: [ops-slack]\n")
    return parse_catalog(text + CHANNELS, "reports-test.yaml")


CHANNELS = """
channels:
  - {name: ops-slack, kind: slack, url_env: CT_TEST_SLACK_URL}
  - {name: ops-email, kind: email, host: 127.0.0.1, from: ct@swan.test, to: [ops@swan.test]}
  - {name: pager, kind: pagerduty, routing_key_env: CT_TEST_PAGERDUTY_KEY}
"""


@pytest.fixture
def channel_catalog() -> Catalog:
    return catalog_with_channels()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def status_history(
    engine: Engine, system_id: str, changes: list[tuple[datetime, str, str, list[dict[str, Any]]]]
) -> None:
    """Status changes as health records them: (at, from, to, reasons)."""
    with unit_of_work(engine) as conn:
        conn.execute(
            system_status_changes.insert(),
            [{"system_id": system_id, "at": at, "from_status": before, "to_status": after,
              "reasons": reasons} for at, before, after, reasons in changes],
        )  # fmt: skip


def reason(objective: str, status: str, message: str = "") -> dict[str, Any]:
    text = message or f"{objective} {status}"
    return {"objective": objective, "status": status, "measured": None, "threshold": None,
            "window": "", "evidence": [], "message": text}  # fmt: skip
