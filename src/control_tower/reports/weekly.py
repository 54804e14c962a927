"""The weekly trend of one ISO week: per system, how its business time split between statuses
and how each objective fared, from the status history; errors and failed runs from health's
rollups; the change against the week before; and taxonomy drift (what ingest refused, which
declared types never came).

The status history records a system's status and every objective's status each time the
system's status changes. An objective that moves while another keeps the system's status
where it is (errors turning amber while a heartbeat gap holds it red) is seen at the next
change: its compliance is exact for objectives that set the status, close for the others.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.catalog.model import System
from control_tower.health.business_hours import business_seconds_between
from control_tower.health.schemas import HealthStatus
from control_tower.reports import repository as repo
from control_tower.reports.digest import period_schema
from control_tower.reports.links import Links
from control_tower.reports.periods import Period as Span
from control_tower.reports.periods import week_name, week_period
from control_tower.reports.repository import Change
from control_tower.reports.schemas import (
    ObjectiveCompliance,
    Refused,
    StatusShares,
    SystemWeek,
    TaxonomyDrift,
    WeeklyTrend,
)
from control_tower.reports.status import status_of

KNOWN = {HealthStatus.green.value, HealthStatus.amber.value, HealthStatus.red.value}
Segment = tuple[datetime, datetime, Change | None]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _change(now: float | None, before: float | None) -> float | None:
    return round(now - before, 4) if now is not None and before is not None else None


def segments(conn: Connection, system_id: str, span: Span) -> list[Segment]:
    """[start, end) cut at each status change, with the change in force on each piece."""
    current = repo.status_before(conn, system_id, span.start)
    since = span.start
    pieces: list[Segment] = []
    for change in repo.status_changes_between(conn, system_id, span.start, span.end):
        if change.at > since:
            pieces.append((since, change.at, current))
        current, since = change, change.at
    pieces.append((since, span.end, current))
    return pieces


class _Tally:
    """Business seconds per status and, per objective, known and green seconds."""

    def __init__(self, system: System, pieces: list[Segment]) -> None:
        self.total = 0.0
        self.status: defaultdict[str, float] = defaultdict(float)
        self.known: defaultdict[str, float] = defaultdict(float)
        self.green: defaultdict[str, float] = defaultdict(float)
        for start, end, change in pieces:
            seconds = business_seconds_between(system.business_hours, start, end)
            if seconds <= 0:
                continue
            self.total += seconds
            self.status[status_of(change).value] += seconds
            for reason in change.reasons if change is not None else []:
                objective, status = str(reason.get("objective", "")), reason.get("status")
                if status in KNOWN:
                    self.known[objective] += seconds
                    if status == HealthStatus.green.value:
                        self.green[objective] += seconds

    def shares(self) -> StatusShares:
        return StatusShares(**{s.value: _share(self.status[s.value], self.total)
                               for s in HealthStatus})  # fmt: skip

    def compliance(self, objective: str) -> float | None:
        return _share(self.green[objective], self.known[objective])

    def objectives(self) -> set[str]:
        return set(self.known) | set(self.green)


@dataclass(frozen=True)
class _Week:
    span: Span
    sums: dict[str, tuple[int, int]]  # system → (errors, failed runs)

    @classmethod
    def read(cls, conn: Connection, span: Span) -> _Week:
        sums = repo.system_sums_between(conn, span.start, span.end)
        return cls(span, {k: (int(v[0]), int(v[1])) for k, v in sums.items()})


def system_week(
    conn: Connection, system: System, week: _Week, before: _Week, links: Links
) -> SystemWeek:
    now = _Tally(system, segments(conn, system.id, week.span))
    then = _Tally(system, segments(conn, system.id, before.span))
    shares, previous_shares = now.shares(), then.shares()
    objectives = [
        ObjectiveCompliance(
            objective=o,
            compliance=now.compliance(o),
            previous=then.compliance(o),
            change=_change(now.compliance(o), then.compliance(o)),
        )
        for o in sorted(now.objectives() | then.objectives())
    ]
    errors, failed = week.sums.get(system.id, (0, 0))
    previous_errors, previous_failed = before.sums.get(system.id, (0, 0))
    return SystemWeek(
        system_id=system.id, name=system.name, business_hours=round(now.total / 3600, 2),
        shares=shares, previous_shares=previous_shares,
        green_change=_change(shares.green, previous_shares.green), objectives=objectives,
        errors=errors, previous_errors=previous_errors, failed_runs=failed,
        previous_failed_runs=previous_failed, link=links.ui(f"/systems/{system.id}"),
    )  # fmt: skip


def taxonomy(conn: Connection, catalog: Catalog, span: Span, previous: Span) -> TaxonomyDrift:
    rows = repo.refusals_between(conn, span.start, span.end)
    refused = [Refused(producer=p, source=s, reason=r, event_type=t, count=n)
               for p, s, r, t, n in rows]  # fmt: skip
    refused.sort(key=lambda x: (-x.count, x.producer, x.source, x.reason, x.event_type))
    seen = repo.types_seen_between(conn, span.start, span.end)
    return TaxonomyDrift(
        refused_total=sum(r.count for r in refused),
        previous_refused_total=sum(row[-1] for row in
                                   repo.refusals_between(conn, previous.start, previous.end)),
        refused=refused,
        unseen_types=sorted(t.type for t in catalog.event_types if t.type not in seen),
    )  # fmt: skip


def build_weekly(conn: Connection, catalog: Catalog, monday: date, links: Links) -> WeeklyTrend:
    tz = catalog.reports.tz
    week = _Week.read(conn, week_period(monday, tz))
    before = _Week.read(conn, week_period(monday - timedelta(days=7), tz))
    return WeeklyTrend(
        organisation=catalog.organisation,
        week=week_name(monday),
        previous_week=before.span.name,
        period=period_schema(week.span, catalog),
        systems=[system_week(conn, s, week, before, links)
                 for s in sorted(catalog.systems, key=lambda s: s.id)],
        taxonomy=taxonomy(conn, catalog, week.span, before.span),
    )  # fmt: skip
