"""Finance: invoices generated vs paid per day, counts and amounts per currency.

Amounts are summed in minor units as integers and formatted only for display. A payment is
`finance.payment.webhook` with `status_after: paid`. With the reports feature's rollups
(`invoice_totals`, `payment_transitions`) the panels read those: counts and generated amounts
per currency and day, and paid counts per day (a payment's rollup has no amount or currency).
Without them they read the window's newest events, and a payment's amount is its invoice's
total when that invoice is among them (else it counts, with its amount unknown).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import day_label, day_starts, floor_day, money
from control_tower.dashboards.panels.common import TYPED_LIMIT, cut_note
from control_tower.dashboards.schemas import (
    Cell,
    PanelRequest,
    SeriesData,
    StatData,
    StatItem,
    TableData,
)

GENERATED = "finance.invoice.generated"
PAYMENT = "finance.payment.webhook"


@dataclass
class Currency:
    generated: int = 0
    generated_minor: int = 0
    paid: int = 0
    paid_minor: int = 0
    paid_unknown: int = 0  # paid invoices whose total was not in the window read


@dataclass
class Finance:
    generated_per_day: dict[datetime, int] = field(default_factory=lambda: defaultdict(int))
    paid_per_day: dict[datetime, int] = field(default_factory=lambda: defaultdict(int))
    currencies: dict[str, Currency] = field(default_factory=lambda: defaultdict(Currency))
    generated: int = 0
    paid: int = 0
    note: str = ""
    by_rollup: bool = False  # counts and generated amounts only


def _total(payload: dict[str, object]) -> tuple[int, str] | None:
    total = payload.get("total")
    if not isinstance(total, dict):
        return None
    amount, currency = total.get("amount_minor"), total.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
        return amount, currency
    return None


def finance(conn: Connection, req: PanelRequest) -> Finance:
    """The window's invoices and payments, read once per page (the three panels share it)."""
    key = f"finance:{req.since.isoformat()}"
    if key in req.scratch:
        cached: Finance = req.scratch[key]
        return cached
    out = (
        _from_rollups(conn, req)
        if {"invoice_totals", "payment_transitions"} <= req.tables
        else _from_events(conn, req)
    )
    req.scratch[key] = out
    return out


def _from_rollups(conn: Connection, req: PanelRequest) -> Finance:
    out = Finance(by_rollup=True)
    for r in repo.invoice_rollup(conn, req.since):
        out.generated += r.invoices
        out.generated_per_day[floor_day(r.bucket_start)] += r.invoices
        out.currencies[r.currency].generated += r.invoices
        out.currencies[r.currency].generated_minor += int(r.total_minor)
    for r in repo.payment_rollup(conn, req.since):
        if r.status_after == "paid":
            out.paid += r.payments
            out.paid_per_day[floor_day(r.bucket_start)] += r.payments
    out.note = "Paid amounts per currency come with the events, not the rollups: see the stream."
    return out


def _from_events(conn: Connection, req: PanelRequest) -> Finance:
    out = Finance()
    invoices = repo.typed_events(conn, [GENERATED], req.since, TYPED_LIMIT)
    payments = repo.typed_events(conn, [PAYMENT], req.since, TYPED_LIMIT)
    totals: dict[str, tuple[int, str]] = {}
    for e in invoices:
        total = _total(e.payload)
        if total is None:
            continue
        totals[str(e.payload.get("invoice_id"))] = total
        amount, currency = total
        out.generated += 1
        out.generated_per_day[floor_day(e.occurred_at)] += 1
        out.currencies[currency].generated += 1
        out.currencies[currency].generated_minor += amount
    for e in payments:
        if e.payload.get("status_after") != "paid":
            continue
        out.paid += 1
        out.paid_per_day[floor_day(e.occurred_at)] += 1
        paid = totals.get(str(e.payload.get("invoice_id")))
        if paid is None:
            out.currencies["?"].paid_unknown += 1
            continue
        amount, currency = paid
        out.currencies[currency].paid += 1
        out.currencies[currency].paid_minor += amount
    out.note = cut_note(max(len(invoices), len(payments)), TYPED_LIMIT, "invoices or payments")
    return out


def summary(conn: Connection, req: PanelRequest) -> StatData:
    f = finance(conn, req)
    share = f"{100 * f.paid / f.generated:.0f} %" if f.generated else "—"
    amounts = {
        c: v.generated_minor if f.by_rollup else v.generated_minor - v.paid_minor
        for c, v in sorted(f.currencies.items())
        if c != "?"
    }
    total = ", ".join(money(a, c) for c, a in amounts.items()) or "—"
    return StatData(
        [StatItem("Generated", str(f.generated)), StatItem("Paid", str(f.paid)),
         StatItem("Paid / generated", share),
         StatItem("Invoiced" if f.by_rollup else "Not yet paid", total)],
    )  # fmt: skip


def per_day(conn: Connection, req: PanelRequest) -> SeriesData:
    days = day_starts(req.now, max(1, (req.window or timedelta(days=30)).days))
    f = finance(conn, req)
    return SeriesData(
        [day_label(d) for d in days],
        [("generated", [float(f.generated_per_day.get(d, 0)) for d in days]),
         ("paid", [float(f.paid_per_day.get(d, 0)) for d in days])],
        f.note,
    )  # fmt: skip


def currencies(conn: Connection, req: PanelRequest) -> TableData:
    f = finance(conn, req)
    rows = []
    for code, c in sorted(f.currencies.items()):
        if code == "?":
            rows.append([Cell("unknown"), Cell("—"), Cell("—"), Cell(str(c.paid_unknown)),
                         Cell("invoice not in the window")])  # fmt: skip
            continue
        paid, paid_minor = ("—", "—") if f.by_rollup else (str(c.paid), money(c.paid_minor, code))
        rows.append([
            Cell(code, code=True), Cell(str(c.generated)), Cell(money(c.generated_minor, code)),
            Cell(paid), Cell(paid_minor),
        ])  # fmt: skip
    return TableData(["currency", "generated", "amount generated", "paid", "amount paid"], rows,
                     None, f.note, "no invoice in this window")  # fmt: skip
