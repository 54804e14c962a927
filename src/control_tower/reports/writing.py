"""The reports in words: the blocks the Markdown and HTML are rendered from. Dates and times are
written by hand, not with `strftime`, whose names follow the process's locale: a report's bytes
must not depend on where it was made."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from control_tower.kit.common import Money
from control_tower.reports.document import (
    Block,
    Code,
    Heading,
    Inline,
    Items,
    Line,
    Link,
    Paragraph,
)
from control_tower.reports.schemas import DailyDigest, StatusShares, SystemDay, WeeklyTrend

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
# Minor-unit digits of currencies that do not have 2 (ISO 4217); the rest have 2.
MINOR_DIGITS = {"BHD": 3, "CLP": 0, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "OMR": 3,
                "TND": 3, "UGX": 0, "VND": 0, "XXX": 0}  # fmt: skip
TOP_TYPES = 20
TOP_FUNCTIONS = 10
CI_LINKS = 3


def long_date(day: date) -> str:
    return f"{DAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def local_time(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return f"{local:%H:%M} {local.tzname()}"


def number(n: int) -> str:
    return f"{n:,}"


def money(value: Money) -> str:
    """Exact, from the integer minor units: never through a float."""
    digits = MINOR_DIGITS.get(value.currency, 2)
    sign, amount = ("-" if value.amount_minor < 0 else ""), abs(value.amount_minor)
    if digits == 0:
        return f"{sign}{amount:,} {value.currency}"
    major, minor = divmod(amount, 10**digits)
    return f"{sign}{major:,}.{minor:0{digits}d} {value.currency}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


def digest_blocks(d: DailyDigest) -> list[Block]:
    tz = ZoneInfo(d.period.zone)
    start, end = d.period.start_at, d.period.end_at
    blocks: list[Block] = [
        Heading(1, f"{d.organisation or 'Control Tower'}: daily digest, "
                   f"{long_date(d.report_date)}"),
        Paragraph((f"{d.period.zone} day from {local_time(start, tz)} to "
                   f"{local_time(end, tz)} the next day ({d.period.hours:g} hours). "
                   "Statuses, the DLQ and the audit head are as at the end of the day.",)),
        Heading(2, "Systems"),
        Items(tuple(_system_line(s, tz) for s in d.systems)),
        Heading(2, "SLO breaches"),
    ]  # fmt: skip
    breaches = tuple(
        (Code(b.system_id), " ", Code(b.objective), f": {b.worst_status.value}, from "
         f"{local_time(b.first_at, tz)}: {b.message}")
        for b in d.slo_breaches
    )  # fmt: skip
    blocks.append(Items(breaches) if breaches else Paragraph(("None.",)))
    blocks += _failures(d, tz)
    blocks += _payments(d)
    blocks += _events(d)
    head = d.audit_head
    blocks += [
        Heading(2, "Dead letters, alerts, audit"),
        Items((
            (f"DLQ: {number(d.dlq.depth_at_end)} dead at the end of the day, "
             f"{number(d.dlq.died_during)} of them died during it: ",
             Link("dead letters", d.dlq.link)),
            (f"Alerts: {number(d.alerts.fired)} fired, {number(d.alerts.acknowledged)} "
             f"acknowledged, {number(d.alerts.resolved)} resolved",),
            ("Audit chain head: ", *((f"row {head.seq}, ", Code(head.hash)) if head
                                     else ("empty",))),
        )),
    ]  # fmt: skip
    return blocks


def _system_line(s: SystemDay, tz: ZoneInfo) -> Line:
    line: list[Inline] = [
        Link(s.name, s.link),
        " ",
        Code(s.system_id),
        f": {s.status_at_end.value}",
    ]
    if not s.changes:
        line.append(" all day" if s.status_at_start is s.status_at_end else "")
        return tuple(line)
    moves = ", ".join(f"{local_time(c.at, tz)} {c.from_status.value} → {c.to_status.value}"
                      for c in s.changes)  # fmt: skip
    line.append(f" at the end of the day; {len(s.changes)} change(s): {moves}")
    return tuple(line)


def _failures(d: DailyDigest, tz: ZoneInfo) -> list[Block]:
    f = d.failures
    runs = tuple(
        (Link(r.run_id, r.link), " ", Code(r.trigger),
         f" failed at {local_time(r.ended_at, tz)}: {r.reason or 'no reason recorded'}")
        for r in f.failed_runs
    )  # fmt: skip
    errors = f.fn_errors
    severity = ", ".join(f"{c.key or '(none)'} {number(c.count)}" for c in errors.by_severity)
    error_lines: list[Line] = [(f"{number(errors.total)} in all: {severity or 'none'}: ",
                                Link("events", errors.link))]  # fmt: skip
    error_lines += [
        (Code(e.fn_name or "(none)"), f" {e.severity or '(none)'}: {number(e.count)}")
        for e in errors.by_function[:TOP_FUNCTIONS]
    ]
    ci = tuple(
        (Code(r.repo or "(none)"), f": {number(r.count)}; latest: ",
         *_joined([Link(f"run {c.run_id}" + (f" ({c.job})" if c.job else ""), c.url)
                   for c in r.latest[:CI_LINKS]]))
        for r in f.ci
    )  # fmt: skip
    return [
        Heading(2, "Failures"),
        Heading(3, f"Failed runs: {number(len(f.failed_runs))}"),
        *([Items(runs)] if runs else []),
        Heading(3, f"backend.fn.error: {number(errors.total)}"),
        Items(tuple(error_lines)),
        Heading(3, f"CI failures: {number(sum(r.count for r in f.ci))}"),
        *([Items(ci)] if ci else []),
    ]


def _joined(links: list[Link]) -> list[Inline]:
    out: list[Inline] = []
    for i, link in enumerate(links):
        out += [", ", link] if i else [link]
    return out


def _payments(d: DailyDigest) -> list[Block]:
    p = d.payments
    transitions = tuple(
        (Code(t.status_before or "(none)"), " → ", Code(t.status_after or "(none)"),
         f": {number(t.count)}")
        for t in p.transitions
    )  # fmt: skip
    invoices = tuple(
        (f"{i.currency}: {number(i.invoices)} invoice(s), total {money(i.total)}",)
        for i in p.invoices
    )
    return [
        Heading(2, "Payments"),
        Heading(3, f"Payment updates: {number(sum(t.count for t in p.transitions))}"),
        *([Items(transitions)] if transitions else []),
        Heading(3, f"Invoices generated: {number(sum(i.invoices for i in p.invoices))}"),
        *([Items(invoices)] if invoices else []),
    ]


def _events(d: DailyDigest) -> list[Block]:
    e = d.events
    by_type = tuple((Code(c.key), f": {number(c.count)}") for c in e.by_type[:TOP_TYPES])
    rest = len(e.by_type) - TOP_TYPES
    sources = ", ".join(f"{c.key} {number(c.count)}" for c in e.by_source)
    return [
        Heading(2, f"Events: {number(e.total)} new"),
        Paragraph((f"By source: {sources or 'none'}. ", Link("Event stream", e.link))),
        *([Items(by_type)] if by_type else []),
        *([Paragraph((f"… and {rest} more types (in the JSON).",))] if rest > 0 else []),
    ]


def _shares(s: StatusShares, green_change: float | None, previous_week: str) -> str:
    change = "" if green_change is None else f" ({green_change * 100:+.1f} pts on {previous_week})"
    return (f"green {percent(s.green)}{change}, amber {percent(s.amber)}, red {percent(s.red)}, "
            f"unknown {percent(s.unknown)}")  # fmt: skip


def weekly_blocks(w: WeeklyTrend) -> list[Block]:
    tz = ZoneInfo(w.period.zone)
    first = w.period.start_at.astimezone(tz).date()
    last = w.period.end_at.astimezone(tz).date()
    systems: list[Line] = []
    objectives: list[Line] = []
    for s in w.systems:
        systems.append((
            Link(s.name, s.link), " ", Code(s.system_id),
            f": {_shares(s.shares, s.green_change, w.previous_week)}; "
            f"errors {number(s.errors)} (was {number(s.previous_errors)}); failed runs "
            f"{number(s.failed_runs)} (was {number(s.previous_failed_runs)})",
        ))  # fmt: skip
        objectives += [
            (Code(s.system_id), " ", Code(o.objective),
             f": {percent(o.compliance)} (was {percent(o.previous)})")
            for o in s.objectives
        ]  # fmt: skip
    t = w.taxonomy
    refused = [
        (Code(r.producer), f" ({r.source}): {r.reason.replace('_', ' ')} ",
         Code(r.event_type or "(none)"), f": {number(r.count)}")
        for r in t.refused
    ]  # fmt: skip
    unseen = _joined_codes(t.unseen_types)
    return [
        Heading(1, f"{w.organisation or 'Control Tower'}: weekly trend, {w.week}"),
        Paragraph((f"{w.period.zone} week from {long_date(first)} to {long_date(last)} "
                   f"(exclusive), against {w.previous_week}. Shares are of each system's "
                   "business time.",)),
        Heading(2, "Systems"),
        Items(tuple(systems)),
        Heading(2, "Objectives: share of business time met"),
        Items(tuple(objectives)) if objectives else Paragraph(("No status history.",)),
        Heading(2, "Taxonomy drift"),
        Paragraph((f"Events refused: {number(t.refused_total)} "
                   f"(was {number(t.previous_refused_total)}).",)),
        *([Items(tuple(refused))] if refused else []),
        Paragraph(("Declared but not seen this week: ", *(unseen or ["none"]), ".")),
    ]  # fmt: skip


def _joined_codes(names: list[str]) -> list[Inline]:
    out: list[Inline] = []
    for i, name in enumerate(names):
        out += [", ", Code(name)] if i else [Code(name)]
    return out
