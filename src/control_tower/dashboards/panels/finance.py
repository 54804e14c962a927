"""Finance: invoices generated vs paid per day, counts and amounts per currency.

Amounts are summed in minor units as integers and formatted only for display. A payment is
`finance.payment.webhook` with `status_after: paid`. The panels read the reports feature's
rollups (`invoice_totals`, `payment_transitions`): counts and generated amounts per currency
and day, and paid counts per day (a payment's rollup has no amount or currency).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.dashboards import repository as repo
from control_tower.dashboards.buckets import day_label, day_starts, floor_day, money
from control_tower.dashboards.schemas import (
    Cell,
    PanelRequest,
    SeriesData,
    StatData,
    StatItem,
    TableData,
)


@dataclass
class Currency:
    generated: int = 0
    generated_minor: int = 0


@dataclass
class Finance:
    generated_per_day: dict[datetime, int] = field(default_factory=lambda: defaultdict(int))
    paid_per_day: dict[datetime, int] = field(default_factory=lambda: defaultdict(int))
    currencies: dict[str, Currency] = field(default_factory=lambda: defaultdict(Currency))
    generated: int = 0
    paid: int = 0
    note: str = ""


def finance(conn: Connection, req: PanelRequest) -> Finance:
    """The window's invoices and payments, read once per page (the three panels share it)."""
    key = f"finance:{req.since.isoformat()}"
    if key in req.scratch:
        cached: Finance = req.scratch[key]
        return cached
    out = Finance()
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
    req.scratch[key] = out
    return out


def summary(conn: Connection, req: PanelRequest) -> StatData:
    f = finance(conn, req)
    share = f"{100 * f.paid / f.generated:.0f} %" if f.generated else "—"
    total = ", ".join(money(c.generated_minor, code) for code, c in sorted(f.currencies.items()))
    return StatData(
        [StatItem("Generated", str(f.generated)), StatItem("Paid", str(f.paid)),
         StatItem("Paid / generated", share), StatItem("Invoiced", total or "—")],
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
    rows = [
        [Cell(code, code=True), Cell(str(c.generated)), Cell(money(c.generated_minor, code)),
         Cell("—"), Cell("—")]
        for code, c in sorted(f.currencies.items())
    ]  # fmt: skip
    return TableData(["currency", "generated", "amount generated", "paid", "amount paid"], rows,
                     None, f.note, "no invoice in this window")  # fmt: skip
