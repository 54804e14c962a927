"""What the panel queries share: limits, the note a cut read carries, top-N series."""

from __future__ import annotations

from datetime import datetime

TOP = 8  # series or bars a chart shows; the rest are summed as "other"


def cut_note(read: int, limit: int, what: str) -> str:
    """Said under a panel whose read stopped at its limit, so no one mistakes it for all."""
    if read < limit:
        return ""
    return f"Showing the newest {limit:,} {what}: the window holds more."


def top_series(
    counts: dict[str, dict[datetime, int]], buckets: list[datetime]
) -> list[tuple[str, list[float | None]]]:
    """One series per key, the TOP largest first, the others summed as `other`."""
    ranked = sorted(counts, key=lambda k: (-sum(counts[k].values()), k))
    shown, rest = ranked[:TOP], ranked[TOP:]
    series: list[tuple[str, list[float | None]]] = [
        (key, [float(counts[key].get(b, 0)) for b in buckets]) for key in shown
    ]
    if rest:
        series.append(("other", [float(sum(counts[k].get(b, 0) for k in rest)) for b in buckets]))
    return series


def external(url: str) -> str | None:
    """A link out only for http(s) URLs (a payload could carry `javascript:`)."""
    return url if url.startswith(("https://", "http://")) else None
