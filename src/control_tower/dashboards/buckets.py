"""Time buckets, percentiles and money formatting for the panels (plain Python, no store)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

# ISO 4217 currencies without minor units (amounts are already whole) and with three.
_EXPONENT = {**dict.fromkeys(("JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX"), 0),
             **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3)}  # fmt: skip


def hour_starts(now: datetime, hours: int) -> list[datetime]:
    """The starts of the last `hours` UTC hours, oldest first, the current hour last."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=h) for h in range(hours - 1, -1, -1)]


def day_starts(now: datetime, days: int) -> list[datetime]:
    """The starts of the last `days` UTC days, oldest first, today last."""
    top = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [top - timedelta(days=d) for d in range(days - 1, -1, -1)]


def hour_label(moment: datetime) -> str:
    return moment.strftime("%H:00")


def day_label(moment: datetime) -> str:
    return moment.strftime("%m-%d")


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def money(amount_minor: int, currency: str) -> str:
    """An amount in minor units as people write it: 125000 GBP → `1,250.00 GBP` (exact: no
    float ever holds the amount)."""
    exponent = _EXPONENT.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    fraction = f".{minor:0{exponent}d}" if exponent else ""
    return f"{sign}{major:,}{fraction} {currency}"


def ago(moment: datetime | None, now: datetime) -> str:
    """`4 min ago`, `3 h ago`, `2 d ago`; `never` for None."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 36 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
