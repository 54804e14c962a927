"""The daily digest of one local calendar day, built from rollups and a few indexed reads.

Everything in it is as of the end of the day, not of the moment it is made: statuses are read
from the status history, the audit chain's head is its last row written before midnight, the DLQ
depth counts events dead before midnight. So making it again later gives the same bytes,
unless the store learnt something about that day since (a late event, a replayed dead one):
the archive then keeps the first (archive.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.health.schemas import HealthStatus
from control_tower.kit.common import Money
from control_tower.reports import repository as repo
from control_tower.reports.alert_activity import alert_activity
from control_tower.reports.links import Links
from control_tower.reports.periods import Period as Span
from control_tower.reports.periods import day_period
from control_tower.reports.schemas import (
    AuditHead,
    CiFailure,
    CiRepo,
    Count,
    DailyDigest,
    DeadLetters,
    EventsSection,
    FailedRun,
    Failures,
    FnErrorCount,
    FnErrors,
    InvoiceTotal,
    Payments,
    PaymentTransition,
    Period,
    SloBreach,
    StatusChangeItem,
    SystemDay,
    TypeSourceCount,
)
from control_tower.reports.status import BREACH, status_of, worse

CI_LATEST = 10
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
NO_CURRENCY = "XXX"  # ISO 4217's code for "no currency": totals whose currency was missing


def period_schema(span: Span, catalog: Catalog) -> Period:
    tz = catalog.reports.tz
    return Period(
        start_at=span.start, end_at=span.end, zone=catalog.reports.zone,
        start_local=span.start.astimezone(tz).isoformat(),
        end_local=span.end.astimezone(tz).isoformat(), hours=span.hours,
    )  # fmt: skip


def _top(counter: Counter[str]) -> list[Count]:
    return [Count(key=k, count=n) for k, n in sorted(counter.items(), key=lambda i: (-i[1], i[0]))]


def events_section(conn: Connection, span: Span, links: Links) -> EventsSection:
    rows = repo.event_counts_between(conn, span.start, span.end)
    by_type: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for etype, source, n in rows:
        by_type[etype] += n
        by_source[source] += n
    return EventsSection(
        total=sum(by_type.values()), by_type=_top(by_type), by_source=_top(by_source),
        by_type_and_source=[TypeSourceCount(type=t, source=s, count=n)
                            for t, s, n in sorted(rows, key=lambda r: (r[0], r[1]))],
        link=links.ui("/events"),
    )  # fmt: skip


def fn_errors_section(conn: Connection, span: Span, links: Links) -> FnErrors:
    rows = repo.fn_errors_between(conn, span.start, span.end)
    by_severity: Counter[str] = Counter()
    for _fn, severity, n in rows:
        by_severity[severity] += n
    return FnErrors(
        total=sum(by_severity.values()),
        by_severity=[Count(key=s, count=n) for s, n in sorted(
            by_severity.items(), key=lambda i: (SEVERITY_ORDER.get(i[0], 9), i[0]))],
        by_function=[FnErrorCount(fn_name=f, severity=s, count=n) for f, s, n in sorted(
            rows, key=lambda r: (-r[2], SEVERITY_ORDER.get(r[1], 9), r[0], r[1]))],
        link=links.ui("/events?type=backend.fn.error"),
    )  # fmt: skip


def ci_section(conn: Connection, span: Span) -> list[CiRepo]:
    counts = repo.ci_failures_per_repo(conn, span.start, span.end)
    return [
        CiRepo(repo=name, count=n, latest=[
            CiFailure(at=row.at, run_id=row.run_id, job=row.job, url=row.url)
            for row in repo.latest_ci_failures(conn, name, span.start, span.end, CI_LATEST)])
        for name, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    ]  # fmt: skip


def failures_section(conn: Connection, span: Span, links: Links) -> Failures:
    runs = sorted(repo.failed_runs_between(conn, span.start, span.end),
                  key=lambda r: (r.ended_at, r.run_id))  # fmt: skip
    return Failures(
        failed_runs=[FailedRun(run_id=r.run_id, trigger=r.trigger, ended_at=r.ended_at,
                               reason=r.reason, link=links.run(r.run_id)) for r in runs],
        fn_errors=fn_errors_section(conn, span, links),
        ci=ci_section(conn, span),
    )  # fmt: skip


def payments_section(conn: Connection, span: Span) -> Payments:
    transitions = sorted(repo.payments_between(conn, span.start, span.end),
                         key=lambda r: (-r[2], r[0], r[1]))  # fmt: skip
    invoices: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for currency, count, total in repo.invoices_between(conn, span.start, span.end):
        valid = len(currency) == 3 and currency.isascii() and currency.isupper()
        entry = invoices[currency if valid else NO_CURRENCY]
        entry[0] += count
        entry[1] += total
    return Payments(
        transitions=[PaymentTransition(status_before=b, status_after=a, count=n)
                     for b, a, n in transitions],
        invoices=[InvoiceTotal(currency=c, invoices=n,
                               total=Money(amount_minor=total, currency=c))
                  for c, (n, total) in sorted(invoices.items())],
    )  # fmt: skip


def systems_section(
    conn: Connection, catalog: Catalog, span: Span, links: Links
) -> tuple[list[SystemDay], list[SloBreach]]:
    days: list[SystemDay] = []
    breaches: dict[tuple[str, str], SloBreach] = {}
    for system in sorted(catalog.systems, key=lambda s: s.id):
        held = repo.status_before(conn, system.id, span.start)
        changes = repo.status_changes_between(conn, system.id, span.start, span.end)
        start_status = status_of(held)
        end_status = status_of(changes[-1]) if changes else start_status
        days.append(SystemDay(
            system_id=system.id, name=system.name, status_at_start=start_status,
            status_at_end=end_status, link=links.ui(f"/systems/{system.id}"),
            changes=[StatusChangeItem(at=c.at, from_status=HealthStatus(c.from_status),
                                      to_status=HealthStatus(c.to_status)) for c in changes],
        ))  # fmt: skip
        carried = [(span.start, held)] if held is not None else []
        for at, change in [*carried, *((c.at, c) for c in changes)]:
            for reason in change.reasons if change is not None else []:
                status = reason.get("status")
                if status not in BREACH:
                    continue
                key = (system.id, str(reason.get("objective", "")))
                found = breaches.get(key)
                if found is None:
                    breaches[key] = SloBreach(
                        system_id=system.id, objective=key[1], worst_status=HealthStatus(status),
                        first_at=at, message=str(reason.get("message", "")),
                    )  # fmt: skip
                else:
                    found.worst_status = worse(found.worst_status, HealthStatus(status))
    return days, [breaches[k] for k in sorted(breaches)]


def build_digest(conn: Connection, catalog: Catalog, day: date, links: Links) -> DailyDigest:
    span = day_period(day, catalog.reports.tz)
    systems, breaches = systems_section(conn, catalog, span, links)
    depth, died = repo.dead_letters(conn, span.start, span.end)
    head = repo.audit_head_before(conn, span.end)
    return DailyDigest(
        organisation=catalog.organisation,
        report_date=day,
        period=period_schema(span, catalog),
        events=events_section(conn, span, links),
        failures=failures_section(conn, span, links),
        payments=payments_section(conn, span),
        systems=systems,
        slo_breaches=breaches,
        dlq=DeadLetters(depth_at_end=depth, died_during=died, link=links.ui("/dlq")),
        alerts=alert_activity(conn, span.start, span.end),
        audit_head=AuditHead(seq=head[0], hash=head[1]) if head else None,
    )
