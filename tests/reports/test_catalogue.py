"""The catalogue's `reports:` section: schedules of the right kind, a zone reports can count
in whole hours, and channels the catalogue declares."""

from __future__ import annotations

import pytest

from control_tower.catalog import CatalogError, load_default_catalog
from control_tower.catalog.loader import default_catalog_text, parse_catalog
from control_tower.scheduler import WeeklyAt
from tests.reports.conftest import CHANNELS


def with_reports(section: str, extra: str = "") -> str:
    text = default_catalog_text()
    return text[: text.index("\nreports:")] + "\n" + section + extra


def test_the_default_reports_section() -> None:
    spec = load_default_catalog().reports
    assert spec.zone == "Europe/London"
    assert spec.digest_schedule.describe() == "daily at 08:00 Europe/London"
    assert isinstance(spec.weekly_schedule, WeeklyAt)
    assert spec.weekly_schedule.describe() == "weekly on Monday at 08:00 Europe/London"
    assert (spec.daily_digest.channels, spec.weekly_trend.channels) == ([], [])


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("reports:\n  daily_digest: {schedule: every 60s}\n", "needs a daily schedule"),
        ("reports:\n  weekly_trend: {schedule: daily at 08:00 Europe/London}\n",
         "needs a weekly schedule"),
        ("reports:\n  daily_digest: {schedule: daily at 08:00}\n", "needs a time zone"),
        ("reports:\n  zone: Asia/Kolkata\n", "not a whole number of hours"),
        ("reports:\n  zone: Mars/Olympus\n", "unknown time zone"),
        ("reports:\n  daily_digest: {channels: [ops-slack, nowhere]}\n",
         "unknown channel 'nowhere'"),
    ],
)  # fmt: skip
def test_a_bad_reports_section_is_refused_naming_the_problem(section: str, problem: str) -> None:
    with pytest.raises(CatalogError) as refused:
        parse_catalog(with_reports(section, CHANNELS), "bad.yaml")
    assert problem in str(refused.value)


def test_reports_go_to_declared_channels() -> None:
    section = "reports:\n  weekly_trend: {channels: [ops-email]}\n"
    catalog = parse_catalog(with_reports(section, CHANNELS), "ok.yaml")
    assert catalog.reports.weekly_trend.channels == ["ops-email"]
