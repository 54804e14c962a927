"""The weekly trend as charts on its report page: each system's share of business time by
status, and its errors and failed runs against the week before. Drawn from the archived JSON,
so the page shows exactly what was sent."""

from __future__ import annotations

from markupsafe import Markup

from control_tower.dashboards.schemas import SeriesData
from control_tower.dashboards.spec import Panel
from control_tower.reports.schemas import WeeklyTrend
from control_tower.web.charts import chart

STATUSES = ("green", "amber", "red", "unknown")
SHARES = Panel(
    id="weekly_status_shares",
    title="Share of business time by status",
    kind="bar",
    query="reports.weekly",
    unit="percent",
    stacked=True,
)
COUNTS = Panel(
    id="weekly_errors_and_failed_runs",
    title="Errors and failed runs, this week and the week before",
    kind="bar",
    query="reports.weekly",
)


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def weekly_charts(trend: WeeklyTrend) -> list[Markup]:
    names = [s.name for s in trend.systems]
    shares = SeriesData(
        names,
        [
            (status, [_percent(getattr(s.shares, status)) for s in trend.systems])
            for status in STATUSES
        ],
    )
    counts = SeriesData(
        names,
        [
            (f"errors {trend.week}", [float(s.errors) for s in trend.systems]),
            (f"errors {trend.previous_week}", [float(s.previous_errors) for s in trend.systems]),
            (f"failed runs {trend.week}", [float(s.failed_runs) for s in trend.systems]),
            (
                f"failed runs {trend.previous_week}",
                [float(s.previous_failed_runs) for s in trend.systems],
            ),
        ],
    )
    return [chart(SHARES, shares), chart(COUNTS, counts)]
