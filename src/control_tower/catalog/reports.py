"""Catalogue section `reports:`: when the daily digest and the weekly trend are made, the zone
whose calendar days and ISO weeks they cover, and the channels they are sent to."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

from control_tower.catalog.types import Strict, ZoneName
from control_tower.scheduler.schedules import DailyAt, WeeklyAt, parse_schedule


def _daily(text: str) -> str:
    if not isinstance(parse_schedule(text), DailyAt):
        raise ValueError("the digest needs a daily schedule, e.g. 'daily at 08:00 Europe/London'")
    return text


def _weekly(text: str) -> str:
    if not isinstance(parse_schedule(text), WeeklyAt):
        raise ValueError("the weekly trend needs a weekly schedule, e.g. "
                         "'weekly on Monday at 08:00 Europe/London'")  # fmt: skip
    return text


def _whole_hours(zone: str) -> str:
    """Reports count from hourly rollups (UTC hours): a zone whose offset is not a whole
    number of hours would cut its days inside an hour."""
    tz = ZoneInfo(zone)
    for year in range(2000, 2040):
        for month in (1, 4, 7, 10):
            offset = datetime(year, month, 15, tzinfo=UTC).astimezone(tz).utcoffset()
            if offset is not None and offset.total_seconds() % 3600:
                raise ValueError(f"{zone!r} is not a whole number of hours from UTC")
    return zone


DailySchedule = Annotated[str, AfterValidator(_daily)]
WeeklySchedule = Annotated[str, AfterValidator(_weekly)]
ReportZone = Annotated[ZoneName, AfterValidator(_whole_hours)]


class DigestSpec(Strict):
    schedule: DailySchedule = Field(
        default="daily at 08:00 Europe/London",
        description="When the digest of the previous day is made and sent.",
    )
    channels: list[str] = Field(
        default_factory=list, description="Names of the notification channels it is sent to."
    )


class WeeklySpec(Strict):
    schedule: WeeklySchedule = Field(
        default="weekly on Monday at 08:00 Europe/London",
        description="When the trend of the last complete ISO week is made and sent.",
    )
    channels: list[str] = Field(
        default_factory=list, description="Names of the notification channels it is sent to."
    )


class ReportsSpec(Strict):
    """When reports are made, which days they cover and where they go (docs/reports.md)."""

    zone: ReportZone = Field(
        default="Europe/London",
        description="The zone whose calendar days (the digest) and ISO weeks (the trend) "
        "reports cover; whole-hour offsets only.",
    )
    daily_digest: DigestSpec = Field(default_factory=DigestSpec)
    weekly_trend: WeeklySpec = Field(default_factory=WeeklySpec)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @cached_property
    def digest_schedule(self) -> DailyAt:
        schedule = parse_schedule(self.daily_digest.schedule)
        assert isinstance(schedule, DailyAt)  # checked when the catalogue loaded
        return schedule

    @cached_property
    def weekly_schedule(self) -> WeeklyAt:
        schedule = parse_schedule(self.weekly_trend.schedule)
        assert isinstance(schedule, WeeklyAt)
        return schedule


def report_reference_problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Every channel a report is sent to must be a declared channel."""
    if not isinstance(data, dict) or not isinstance(reports := data.get("reports"), dict):
        return []
    declared = data.get("channels")
    known = {c.get("name") for c in declared if isinstance(c, dict)} if isinstance(
        declared, list) else set()  # fmt: skip
    problems: list[tuple[tuple[Any, ...], str]] = []
    for section in ("daily_digest", "weekly_trend"):
        spec = reports.get(section)
        names = spec.get("channels") if isinstance(spec, dict) else None
        for j, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in known:
                problems.append((("reports", section, "channels", j), f"unknown channel {name!r}"))
    return problems
