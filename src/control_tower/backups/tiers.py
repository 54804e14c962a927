"""Which backups the retention tiers keep.

The rule (docs/backups.md, "Retention tiers"), for backups taken at instants t, with `now` and
the calendar of the schedule's zone (Europe/London by default):

- **daily**: a backup that is the newest of its calendar day is kept while now − t < 30 days;
- **weekly**: the newest of its ISO week (Monday–Sunday) is kept while now − t < 180 days;
- **monthly**: the newest of its calendar month is kept while now − t < 365 days;
- the newest backup of all is always kept, however old (backups that stopped a year ago must
  not leave nothing behind);
- every other backup is deleted.

"Newest of its day/week/month" is judged among the backups that exist, so the rule needs no
state: the newest of a period is never deleted while its tier lasts, and once a period is over
its newest backup stays its representative. A period's representative is its last backup,
as restic's and Borg's `keep-daily/weekly/monthly` choose.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from control_tower.catalog.backups import BackupTiers

T = TypeVar("T")


@dataclass(frozen=True)
class Tier:
    name: str
    days: int
    period: Callable[[datetime], Hashable]


def tiers(keep: BackupTiers) -> list[Tier]:
    return [
        Tier("daily", keep.daily_days, lambda local: local.date()),
        Tier("weekly", keep.weekly_days, lambda local: local.isocalendar()[:2]),
        Tier("monthly", keep.monthly_days, lambda local: (local.year, local.month)),
    ]


def kept(
    backups: Sequence[T], taken_at: Callable[[T], datetime], now: datetime, keep: BackupTiers,
    zone: ZoneInfo,
) -> dict[int, list[str]]:  # fmt: skip
    """For each backup kept (by its index in `backups`), the tiers that keep it."""
    reasons: dict[int, list[str]] = {}
    if not backups:
        return reasons
    moments = [taken_at(b) for b in backups]
    for tier in tiers(keep):
        newest: dict[Hashable, int] = {}
        for index, moment in enumerate(moments):
            if now - moment >= timedelta(days=tier.days):
                continue
            period = tier.period(moment.astimezone(zone))
            best = newest.get(period)
            if best is None or moment >= moments[best]:
                newest[period] = index
        for index in newest.values():
            reasons.setdefault(index, []).append(tier.name)
    latest = max(range(len(moments)), key=moments.__getitem__)
    reasons.setdefault(latest, []).append("newest")
    return reasons
