"""Schedule arithmetic, no store: interval slots, and daily/weekly wall-clock times across the
London clock changes of 2026 (29 March: 01:00 GMT becomes 02:00 BST; 25 October: 02:00 BST
becomes 01:00 GMT). Every instant here is written out, never read from a clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from control_tower.scheduler import DailyAt, Every, WeeklyAt, parse_schedule, slot_for

LONDON = ZoneInfo("Europe/London")
EIGHT_LONDON = DailyAt(time(8, 0), "Europe/London")
MONDAY = 0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(instant: datetime) -> tuple[date, time]:
    wall = instant.astimezone(LONDON)
    return wall.date(), wall.time()


# --- Every ------------------------------------------------------------------------------------


def test_every_is_aligned_to_multiples_of_its_interval() -> None:
    every = Every(300)
    assert every.slot_at_or_before(utc(2026, 7, 1, 10, 7, 59)) == utc(2026, 7, 1, 10, 5)
    assert every.slot_at_or_before(utc(2026, 7, 1, 10, 5)) == utc(2026, 7, 1, 10, 5)
    assert every.next_after(utc(2026, 7, 1, 10, 5)) == utc(2026, 7, 1, 10, 10)
    assert slot_for(utc(2026, 7, 1, 10, 7, 59), 300) == utc(2026, 7, 1, 10, 5)
    assert every.describe() == "every 300 s"
    assert every.tz.key == "UTC"


def test_slots_between_is_oldest_first_and_can_keep_only_the_latest() -> None:
    every = Every(60)
    start = utc(2026, 7, 1, 10, 0)
    assert every.slots_between(start, start + timedelta(minutes=3, seconds=30)) == [
        start + timedelta(minutes=m) for m in (1, 2, 3)
    ]
    # A year of minutes, of which only the last three: the cap bounds the work.
    assert every.slots_between(start, start + timedelta(days=365), latest=3) == [
        start + timedelta(days=365, minutes=m) for m in (-2, -1, 0)
    ]
    assert every.slots_between(start, start + timedelta(seconds=59)) == []


# --- DailyAt: wall-clock time through summer, winter and both change days ----------------------


def test_daily_0800_london_is_0700_utc_in_summer_and_0800_utc_in_winter() -> None:
    assert EIGHT_LONDON.slot_at_or_before(utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 7)
    assert EIGHT_LONDON.next_after(utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 7)
    assert EIGHT_LONDON.slot_at_or_before(utc(2026, 12, 1, 12)) == utc(2026, 12, 1, 8)
    assert EIGHT_LONDON.next_after(utc(2026, 12, 1, 12)) == utc(2026, 12, 2, 8)


def test_a_daily_slot_starts_exactly_at_its_instant() -> None:
    slot = utc(2026, 7, 1, 7)
    assert EIGHT_LONDON.slot_at_or_before(slot) == slot
    assert EIGHT_LONDON.slot_at_or_before(slot - timedelta(microseconds=1)) == utc(2026, 6, 30, 7)
    assert EIGHT_LONDON.next_after(slot - timedelta(microseconds=1)) == slot
    assert EIGHT_LONDON.next_after(slot) == utc(2026, 7, 2, 7)


@pytest.mark.parametrize(
    ("day_before", "expected_utc"),
    [
        # The day before, the change day and the day after: 08:00 GMT, then 08:00 BST twice.
        (date(2026, 3, 28), [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]),
        # 08:00 BST, then 08:00 GMT on the change day and after it.
        (date(2026, 10, 24), [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_daily_0800_london_fires_once_a_day_at_0800_local_around_a_change(
    day_before: date, expected_utc: list[datetime]
) -> None:
    after = datetime.combine(day_before, time(0), tzinfo=LONDON)
    until = after + timedelta(days=3) - timedelta(microseconds=1)
    slots = EIGHT_LONDON.slots_between(after, until)
    assert slots == expected_utc
    assert [local(s) for s in slots] == [
        (day_before + timedelta(days=n), time(8, 0)) for n in range(3)
    ]
    assert all(s.tzinfo is UTC for s in slots)


def test_a_0130_job_on_the_spring_day_fires_once_at_the_end_of_the_gap() -> None:
    """01:30 does not exist on 29 March (the clocks jump from 01:00 to 02:00): the job runs at
    the first instant after the gap, 02:00 BST, and at 01:30 again the next day."""
    job = DailyAt(time(1, 30), "Europe/London")
    slots = job.slots_between(utc(2026, 3, 28), utc(2026, 3, 30, 23))
    assert slots == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    assert [local(s)[1] for s in slots] == [time(1, 30), time(2, 0), time(1, 30)]
    # Asked at any moment of the change day after the gap, the day's slot is the gap's end.
    assert job.slot_at_or_before(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 1, 0)
    assert job.slot_at_or_before(utc(2026, 3, 29, 0, 59)) == utc(2026, 3, 28, 1, 30)
    assert job.next_after(utc(2026, 3, 28, 1, 30)) == utc(2026, 3, 29, 1, 0)


def test_a_0130_job_on_the_autumn_day_fires_once_at_the_first_0130() -> None:
    """01:30 happens twice on 25 October (BST, then GMT): the job runs at the first only."""
    job = DailyAt(time(1, 30), "Europe/London")
    slots = job.slots_between(utc(2026, 10, 24), utc(2026, 10, 26, 23))
    assert slots == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert [local(s)[1] for s in slots] == [time(1, 30)] * 3
    # During the second 01:30 (GMT) the latest slot is still the first one, not a new one.
    assert job.slot_at_or_before(utc(2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30)
    assert job.next_after(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)


def test_a_gap_of_half_an_hour_ends_where_the_zone_says() -> None:
    """Lord Howe Island moves its clocks by 30 minutes (02:00 → 02:30 on 4 October 2026): the
    end of a gap is found from the zone's rules, not assumed to be an hour."""
    job = DailyAt(time(2, 15), "Australia/Lord_Howe")
    [slot] = job.slots_between(utc(2026, 10, 3, 12), utc(2026, 10, 4, 12))
    assert slot.astimezone(job.tz).time() == time(2, 30)
    assert slot == utc(2026, 10, 3, 15, 30)  # 02:30 at UTC+11


def test_calendar_jobs_are_not_business_day_aware() -> None:
    """Christmas Day (a Friday) and the weekend after it have their daily slot like any day."""
    days = [
        local(s)[0] for s in EIGHT_LONDON.slots_between(utc(2026, 12, 24, 9), utc(2026, 12, 28))
    ]
    assert days == [date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 27)]


# --- WeeklyAt ----------------------------------------------------------------------------------


def test_weekly_monday_0800_london() -> None:
    weekly = WeeklyAt(MONDAY, time(8, 0), "Europe/London")
    wednesday = utc(2026, 12, 2, 12)
    assert weekly.slot_at_or_before(wednesday) == utc(2026, 11, 30, 8)
    assert weekly.next_after(wednesday) == utc(2026, 12, 7, 8)
    # On the Monday itself: before 08:00 the slot is last week's, from 08:00 this week's.
    assert weekly.slot_at_or_before(utc(2026, 12, 7, 7, 59)) == utc(2026, 11, 30, 8)
    assert weekly.slot_at_or_before(utc(2026, 12, 7, 8)) == utc(2026, 12, 7, 8)
    # Summer Mondays are 07:00 UTC.
    assert weekly.slot_at_or_before(utc(2026, 7, 8, 12)) == utc(2026, 7, 6, 7)
    assert weekly.describe() == "weekly on Monday at 08:00 Europe/London"


def test_weekly_spans_the_clock_changes_at_0800_local() -> None:
    weekly = WeeklyAt(MONDAY, time(8, 0), "Europe/London")
    spring = weekly.slots_between(utc(2026, 3, 20), utc(2026, 4, 1))
    assert spring == [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)]
    autumn = weekly.slots_between(utc(2026, 10, 20), utc(2026, 11, 1))
    assert autumn == [utc(2026, 10, 26, 8)]
    assert {local(s)[1] for s in spring + autumn} == {time(8, 0)}


def test_a_bank_holiday_monday_still_fires() -> None:
    bank_holiday = date(2026, 12, 28)  # Boxing Day falls on a Saturday: substitute day
    assert bank_holiday in holidays.country_holidays("GB", subdiv="ENG", years=2026)
    weekly = WeeklyAt(MONDAY, time(8, 0), "Europe/London")
    assert weekly.slots_between(utc(2026, 12, 21, 9), utc(2026, 12, 29)) == [utc(2026, 12, 28, 8)]


# --- describe and parse_schedule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every 60s", Every(60)),
        ("every 5m", Every(300)),
        ("every 2 h", Every(7200)),
        ("Every 90 sec", Every(90)),
        ("daily 08:00 Europe/London", DailyAt(time(8, 0), "Europe/London")),
        ("daily at 8:05 UTC", DailyAt(time(8, 5), "UTC")),
        ("weekly mon 08:00 Europe/London", WeeklyAt(MONDAY, time(8, 0), "Europe/London")),
        ("weekly Friday 17:30 America/New_York", WeeklyAt(4, time(17, 30), "America/New_York")),
    ],
)
def test_parse_schedule(text: str, expected: object) -> None:
    assert parse_schedule(text) == expected


@pytest.mark.parametrize(
    "schedule",
    [Every(60), EIGHT_LONDON, WeeklyAt(6, time(23, 59, 30), "Asia/Kolkata")],
    ids=["every", "daily", "weekly"],
)
def test_a_description_reads_back_as_the_same_schedule(
    schedule: Every | DailyAt | WeeklyAt,
) -> None:
    assert parse_schedule(schedule.describe()) == schedule


def test_descriptions() -> None:
    assert Every(60).describe() == "every 60 s"
    assert EIGHT_LONDON.describe() == "daily at 08:00 Europe/London"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hourly", "not a schedule: 'hourly'; expected 'every 60s'"),
        ("", "not a schedule: ''"),
        ("every 60", "not an interval: 'every 60'"),
        ("every 0s", "an interval must be at least 1 second, not 0"),
        ("daily 08:00", "'daily 08:00' needs a time zone at the end"),
        ("daily 25:00 UTC", "not a time of day: '25:00'; expected HH:MM"),
        ("daily 08:00 Europe/Lndon", "unknown time zone 'Europe/Lndon'"),
        ("weekly 08:00 UTC", "not a schedule: 'weekly 08:00 UTC'; expected e.g. 'weekly mon"),
        ("weekly mnday 08:00 UTC", "not a weekday: 'mnday'; expected mon, tue"),
        ("weekly mon 08:00", "needs a time zone at the end"),
        ("daily 08:00 Europe/London extra", "not a schedule: 'daily 08:00 Europe/London extra'"),
    ],
)
def test_parse_schedule_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(text)


def test_schedules_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        Every(0)
    with pytest.raises(ValueError, match="unknown time zone"):
        DailyAt(time(8), "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="weekday must be 0"):
        WeeklyAt(7, time(8), "UTC")
    with pytest.raises(ValueError, match="wall-clock time"):
        DailyAt(time(8, tzinfo=UTC), "UTC")
