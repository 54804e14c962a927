"""When a job runs: every N seconds, or daily/weekly at a wall-clock time in a time zone.

A schedule is a set of instants ("slots"). The scheduler only asks three things of it: the
latest slot at or before now (what is due), the slot after an instant (what comes next), and the
slots between two instants (what a catch-up job missed). Every answer is in UTC.

Calendar schedules follow the zone's wall clock, so 08:00 in London is 07:00 UTC in summer and
08:00 UTC in winter. On the day clocks go forward, a time inside the gap (01:30 in London) does
not exist: the job runs at the first instant after the gap (02:00 BST), once. On the day clocks go
back, a time that happens twice runs once, at its first occurrence (fold=0). Calendar jobs know
nothing of business days: a bank-holiday Monday is a Monday.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as TimeOfDay
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from control_tower.kit.clock import ensure_utc

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RESOLUTION = timedelta(microseconds=1)
_EXAMPLES = (
    "'every 60s', 'every 5m', 'daily 08:00 Europe/London' or 'weekly mon 08:00 Europe/London'"
)


class Schedule(ABC):
    """What the scheduler needs of a schedule; the concrete ones are frozen dataclasses."""

    @property
    @abstractmethod
    def tz(self) -> ZoneInfo:
        """The zone its times are written in (UTC for `Every`): how to show its slots."""

    @abstractmethod
    def slot_at_or_before(self, now: datetime) -> datetime:
        """The latest slot at or before `now`, in UTC."""

    @abstractmethod
    def next_after(self, instant: datetime) -> datetime:
        """The first slot strictly after `instant`, in UTC."""

    @abstractmethod
    def describe(self) -> str:
        """How people read it, e.g. "daily at 08:00 Europe/London"; `parse_schedule` reads it."""

    def slots_between(
        self, after: datetime, until: datetime, *, latest: int | None = None
    ) -> list[datetime]:
        """The slots in (after, until], oldest first; with `latest`, only the last `latest`.

        Walks back from `until`, so a cap bounds the work however long the gap is.
        """
        slots: list[datetime] = []
        slot = self.slot_at_or_before(until)
        while slot > after and (latest is None or len(slots) < latest):
            slots.append(slot)
            slot = self.slot_at_or_before(slot - _RESOLUTION)
        slots.reverse()
        return slots


@dataclass(frozen=True)
class Every(Schedule):
    """Every `seconds`, on multiples of the interval since the Unix epoch: real elapsed time,
    whatever any wall clock says."""

    seconds: int

    def __post_init__(self) -> None:
        if self.seconds < 1:
            raise ValueError(f"an interval must be at least 1 second, not {self.seconds}")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo("UTC")

    def slot_at_or_before(self, now: datetime) -> datetime:
        seconds = int(ensure_utc(now).timestamp()) // self.seconds * self.seconds
        return datetime.fromtimestamp(seconds, UTC)

    def next_after(self, instant: datetime) -> datetime:
        return self.slot_at_or_before(instant) + timedelta(seconds=self.seconds)

    def describe(self) -> str:
        return f"every {self.seconds} s"


def slot_for(now: datetime, interval_seconds: int) -> datetime:
    """`now` rounded down to a multiple of the interval since the Unix epoch."""
    return Every(interval_seconds).slot_at_or_before(now)


class _AtLocalTime(Schedule):
    """Slots at one wall-clock time on some dates of a zone (every day, one weekday…)."""

    time: TimeOfDay
    zone: str
    _step: timedelta

    def _check(self) -> None:
        if self.time.tzinfo is not None or self.time.microsecond:
            raise ValueError("the time of day is a wall-clock time in the zone, to the second")
        _zone(self.zone)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @abstractmethod
    def _date_on_or_before(self, day: date) -> date:
        """The latest date at or before `day` on which the schedule fires."""

    def _slot_on(self, day: date) -> datetime:
        return wall_time_to_utc(day, self.time, self.tz)

    def slot_at_or_before(self, now: datetime) -> datetime:
        now = ensure_utc(now)
        day = self._date_on_or_before(now.astimezone(self.tz).date())
        slot = self._slot_on(day)
        return slot if slot <= now else self._slot_on(day - self._step)

    def next_after(self, instant: datetime) -> datetime:
        instant = ensure_utc(instant)
        day = self._date_on_or_before(instant.astimezone(self.tz).date())
        slot = self._slot_on(day)
        while slot <= instant:
            day += self._step
            slot = self._slot_on(day)
        return slot

    def _hhmm(self) -> str:
        return self.time.isoformat(timespec="minutes" if self.time.second == 0 else "seconds")


@dataclass(frozen=True)
class DailyAt(_AtLocalTime):
    """Every day at `time`, wall-clock time in `zone` (a zoneinfo name, e.g. Europe/London)."""

    time: TimeOfDay
    zone: str
    _step = timedelta(days=1)

    def __post_init__(self) -> None:
        self._check()

    def _date_on_or_before(self, day: date) -> date:
        return day

    def describe(self) -> str:
        return f"daily at {self._hhmm()} {self.zone}"


@dataclass(frozen=True)
class WeeklyAt(_AtLocalTime):
    """Every week on `weekday` (0 = Monday … 6 = Sunday) at `time` in `zone`."""

    weekday: int
    time: TimeOfDay
    zone: str
    _step = timedelta(days=7)

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) … 6 (Sunday), not {self.weekday}")
        self._check()

    def _date_on_or_before(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.weekday) % 7)

    def describe(self) -> str:
        return f"weekly on {WEEKDAYS[self.weekday].title()} at {self._hhmm()} {self.zone}"


def wall_time_to_utc(day: date, at: TimeOfDay, zone: ZoneInfo) -> datetime:
    """The instant the wall clock of `zone` shows `at` on `day`, in UTC.

    A time shown twice (clocks going back) gives its first occurrence; a time never shown
    (clocks going forward) gives the first instant after the gap.
    """
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0: the first of two occurrences
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap fold=0 reads the time with the offset from before the change, which lands after
    # the change, and fold=1 with the offset from after it, which lands before; the change (the
    # first instant after the gap) lies between. Zones change on whole seconds.
    low = int(local.replace(fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    after_offset = instant.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use a zoneinfo name, e.g. Europe/London)"
        ) from exc


_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
_INTERVAL = re.compile(r"(\d+)\s*(s|sec|m|min|h)", re.IGNORECASE)
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_FILLERS = {"at", "on"}


def parse_schedule(text: str) -> Every | DailyAt | WeeklyAt:
    """Read "every 60s", "every 5m", "daily 08:00 Europe/London", "weekly mon 08:00
    Europe/London" (and what `describe()` writes); a ValueError says what is wrong."""
    kind, *rest = text.split() or [""]
    kind = kind.lower()
    if kind == "every":
        if match := _INTERVAL.fullmatch(" ".join(rest)):
            return Every(int(match[1]) * _UNITS[match[2].lower()])
        raise ValueError(f"not an interval: {text!r}; expected e.g. 'every 60s', 'every 5m'")
    words = [word for word in rest if word.lower() not in _FILLERS]
    if kind == "daily":
        _expect(words, 2, text, "daily 08:00 Europe/London")
        return DailyAt(_parse_time(words[0]), _zone(words[1]).key)
    if kind == "weekly":
        _expect(words, 3, text, "weekly mon 08:00 Europe/London")
        return WeeklyAt(_parse_weekday(words[0]), _parse_time(words[1]), _zone(words[2]).key)
    raise ValueError(f"not a schedule: {text!r}; expected {_EXAMPLES}")


def _expect(words: list[str], count: int, text: str, example: str) -> None:
    if len(words) == count - 1 and _TIME.fullmatch(words[-1]):
        raise ValueError(f"{text!r} needs a time zone at the end, e.g. {example!r}")
    if len(words) != count:
        raise ValueError(f"not a schedule: {text!r}; expected e.g. {example!r}")


def _parse_time(text: str) -> TimeOfDay:
    if match := _TIME.fullmatch(text):
        return TimeOfDay(int(match[1]), int(match[2]), int(match[3] or 0))
    raise ValueError(f"not a time of day: {text!r}; expected HH:MM, 00:00 … 23:59")


def _parse_weekday(text: str) -> int:
    word = text.lower()
    matches = [i for i, name in enumerate(WEEKDAYS) if len(word) >= 3 and name.startswith(word)]
    if len(matches) != 1:
        raise ValueError(f"not a weekday: {text!r}; expected mon, tue, wed, thu, fri, sat or sun")
    return matches[0]
