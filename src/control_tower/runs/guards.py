"""Guards: rules that must allow a trigger now, and say when they will if they do not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from control_tower.catalog.triggers import FinanceWindow, RateLimit, Trigger
from control_tower.catalog.types import WEEKDAYS
from control_tower.kit.errors import Conflict
from control_tower.models import runs


@dataclass(frozen=True)
class Refusal:
    guard: str
    reason: str
    allowed_from: datetime
    checked_at: datetime

    def error(self, trigger: str) -> Conflict:
        """409 guard_refused: which guard, why, and when it will allow the trigger."""
        retry_after = max(1, int((self.allowed_from - self.checked_at).total_seconds()))
        return Conflict(
            f"guard {self.guard!r} refuses {trigger!r} now: {self.reason}",
            code="guard_refused",
            details={
                "guard": self.guard,
                "reason": self.reason,
                "allowed_from": self.allowed_from.astimezone(UTC).isoformat(),
            },
            headers={"Retry-After": str(retry_after)},
        )


def window_open_at(window: FinanceWindow, now: datetime) -> datetime | None:
    """None if the window is open at `now`, else the next instant it opens (UTC)."""
    zone = ZoneInfo(window.tz)
    local = now.astimezone(zone)
    day = WEEKDAYS[local.weekday()]
    if day in window.days and window.start <= local.time().replace(tzinfo=None) < window.end:
        return None
    for offset in range(8):
        date = local.date() + timedelta(days=offset)
        if WEEKDAYS[date.weekday()] not in window.days:
            continue
        # Local wall time → UTC through the zone, so both DST changes are handled by zoneinfo.
        opens = datetime.combine(date, window.start, tzinfo=zone).astimezone(UTC)
        if opens > now:
            return opens
    raise AssertionError("a window with at least one day opens within a week")


def describe_window(window: FinanceWindow) -> str:
    days = ",".join(window.days)
    return (
        f"runs only {days} {window.start:%H:%M}-{window.end:%H:%M} {window.tz} "
        "(start inclusive, end exclusive)"
    )


def rate_limit_refusal(
    conn: Connection, trigger: str, limit: RateLimit, now: datetime
) -> Refusal | None:
    """Counted from the runs table, so every API replica and the CLI share one budget."""
    hour_ago = now - timedelta(hours=1)
    recent = list(
        conn.execute(
            select(runs.c.created_at)
            .where(runs.c.trigger == trigger, runs.c.created_at > hour_ago)
            .order_by(runs.c.created_at.desc())
            .limit(limit.per_hour)
        ).scalars()
    )
    if len(recent) < limit.per_hour:
        return None
    # The oldest of the last `per_hour` runs leaves the rolling hour first.
    allowed_from = recent[-1] + timedelta(hours=1)
    return Refusal(
        "rate_limit",
        f"at most {limit.per_hour} runs per rolling hour; {len(recent)} already",
        allowed_from,
        now,
    )


def check_guards(
    conn: Connection, trigger: Trigger, now: datetime
) -> tuple[list[str], Refusal | None]:
    """The guards checked, and the first refusal (None if all allow the trigger now)."""
    checked: list[str] = []
    window = trigger.guards.finance_window
    if window is not None:
        checked.append("finance_window")
        opens = window_open_at(window, now)
        if opens is not None:
            return checked, Refusal("finance_window", describe_window(window), opens, now)
    limit = trigger.guards.rate_limit
    if limit is not None:
        checked.append("rate_limit")
        refusal = rate_limit_refusal(conn, trigger.name, limit, now)
        if refusal is not None:
            return checked, refusal
    return checked, None
