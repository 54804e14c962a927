"""Business-hours arithmetic: weekends, bank holidays and both DST changes in real time."""

from __future__ import annotations

from datetime import UTC, datetime

from control_tower.catalog.health import BusinessHoursSpec
from control_tower.health.business_hours import business_seconds_between, in_business_hours

OFFICE = BusinessHoursSpec()
ALWAYS = BusinessHoursSpec(always=True)


def minutes(spec: BusinessHoursSpec, start: datetime, end: datetime) -> float:
    return business_seconds_between(spec, start, end) / 60


def test_weekend_gap_counts_only_business_minutes() -> None:
    friday = datetime(2026, 11, 27, 17, 50, tzinfo=UTC)  # 17:50 GMT
    monday = datetime(2026, 11, 30, 8, 5, tzinfo=UTC)
    assert minutes(OFFICE, friday, monday) == 15


def test_bank_holidays_are_off() -> None:
    # Christmas 2026: Fri 25 Dec and the substitute Boxing Day on Mon 28 Dec are holidays.
    start = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    end = datetime(2026, 12, 29, 8, 5, tzinfo=UTC)
    assert minutes(OFFICE, start, end) == 65


def test_business_window_follows_local_time_in_summer() -> None:
    # 08:00 BST is 07:00 UTC.
    assert in_business_hours(OFFICE, datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
    assert not in_business_hours(OFFICE, datetime(2026, 6, 1, 6, 59, tzinfo=UTC))
    assert in_business_hours(OFFICE, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    assert not in_business_hours(OFFICE, datetime(2026, 12, 1, 7, 59, tzinfo=UTC))


def test_spring_forward_gap_is_real_elapsed_time() -> None:
    # Clocks jump 01:00 GMT → 02:00 BST on 29 March 2026: the wall clock shows 80 minutes.
    before = datetime(2026, 3, 29, 0, 50, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 10, tzinfo=UTC)
    assert minutes(ALWAYS, before, after) == 20


def test_fall_back_gap_is_real_elapsed_time() -> None:
    # Clocks go back 02:00 BST → 01:00 GMT on 25 October 2026: the wall clock shows 0 minutes.
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 01:30 GMT
    assert minutes(ALWAYS, before, after) == 60


def test_first_business_morning_after_each_dst_change() -> None:
    # Monday after spring forward: business opens 07:00 UTC; after fall back: 08:00 UTC.
    friday = datetime(2026, 3, 27, 17, 59, tzinfo=UTC)  # 17:59 GMT
    monday = datetime(2026, 3, 30, 7, 20, tzinfo=UTC)  # 08:20 BST
    assert minutes(OFFICE, friday, monday) == 21
    friday = datetime(2026, 10, 23, 16, 59, tzinfo=UTC)  # 17:59 BST
    monday = datetime(2026, 10, 26, 8, 20, tzinfo=UTC)  # 08:20 GMT
    assert minutes(OFFICE, friday, monday) == 21
