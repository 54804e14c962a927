"""The periods reports cover: a calendar day or an ISO week of a zone, as UTC instants.

A day runs from local midnight to the next local midnight, each converted on its own, so the
day clocks go forward lasts 23 hours and the day they go back 25. A week runs from Monday's
midnight to the next Monday's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from control_tower.kit.errors import Unprocessable

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
# Years a report can cover: the instants around them exist in every zone.
YEARS = range(1970, 9999)


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the name it is filed under (2026-11-26, 2026-W48)."""

    name: str
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` starts in `tz`, in UTC (midnight exists in every zone CT serves:
    zones that skip midnight would need the first instant after the gap)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def day_period(day: date, tz: ZoneInfo) -> Period:
    return Period(day.isoformat(), local_midnight(day, tz),
                  local_midnight(day + timedelta(days=1), tz))  # fmt: skip


def week_name(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(name: str) -> date:
    """The Monday of an ISO week named like 2026-W48; Unprocessable when it is not one."""
    match = _WEEK.fullmatch(name)
    try:
        if match is not None and int(match[1]) in YEARS:
            return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        pass
    raise Unprocessable(f"not an ISO week: {name!r}; expected e.g. 2026-W48",
                        details=[{"field": "week", "message": "not an ISO week"}])  # fmt: skip


def week_period(monday: date, tz: ZoneInfo) -> Period:
    return Period(week_name(monday), local_midnight(monday, tz),
                  local_midnight(monday + timedelta(days=7), tz))  # fmt: skip


def parse_day(text: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) and int(text[:4]) in YEARS:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise Unprocessable(f"not a date: {text!r}; expected YYYY-MM-DD",
                        details=[{"field": "date", "message": "not a calendar date"}])  # fmt: skip


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def last_complete_day(now: datetime, tz: ZoneInfo) -> date:
    """Yesterday, in `tz`."""
    return local_date(now, tz) - timedelta(days=1)


def last_complete_week(now: datetime, tz: ZoneInfo) -> date:
    """The Monday of the last ISO week that has ended, in `tz`."""
    today = local_date(now, tz)
    return today - timedelta(days=today.weekday() + 7)


def is_complete(period: Period, now: datetime) -> bool:
    return period.end <= now
