"""Business hours in a local zone, measured in real elapsed time across DST changes.

A gap is the part of [start, end) that falls inside business hours. Each business day's window
is built in local time and converted to UTC on its own, so a day that springs forward or falls
back keeps its true length and a night across a DST change counts for what it really lasted.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from control_tower.catalog.health import BusinessHoursSpec
from control_tower.catalog.types import WEEKDAYS


def is_business_day(spec: BusinessHoursSpec, day: date) -> bool:
    if WEEKDAYS[day.weekday()] not in spec.days:
        return False
    calendar = spec.holiday_calendar
    return calendar is None or day not in calendar


def business_seconds_between(spec: BusinessHoursSpec, start: datetime, end: datetime) -> float:
    """Seconds of [start, end) that fall in business hours (real elapsed time)."""
    if end <= start:
        return 0.0
    if spec.always:
        return (end - start).total_seconds()
    zone = ZoneInfo(spec.timezone)
    total = 0.0
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        if is_business_day(spec, day):
            opens = datetime.combine(day, spec.start, tzinfo=zone)
            closes = datetime.combine(day, spec.end, tzinfo=zone)
            overlap = min(end, closes) - max(start, opens)
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


def in_business_hours(spec: BusinessHoursSpec, moment: datetime) -> bool:
    if spec.always:
        return True
    local = moment.astimezone(ZoneInfo(spec.timezone))
    return is_business_day(spec, local.date()) and spec.start <= local.time() < spec.end
