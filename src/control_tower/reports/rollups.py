"""The router handler that keeps what reports count, so a report never scans a day's events.

Per UTC hour (an event counts in the hour of `occurred_at`, or of `received_at` when that is
earlier, as health counts it): events by type and source, `backend.fn.error` by function and
severity, `finance.payment.webhook` by transition, `finance.invoice.generated` by currency with
the sum of their totals; and one row per `ci.workflow.failed` with its link. A batch's counts
are folded before the router's write transaction and written as increments inside it, so each
event counts once. `ct rebuild` recomputes them from the routed events (`REBUILD`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from control_tower.catalog import Catalog
from control_tower.models import (
    ci_failures,
    event_counts,
    fn_errors,
    invoice_totals,
    payment_transitions,
)
from control_tower.routing.handlers import Effect, EventRows

FN_ERROR = "backend.fn.error"
CI_FAILED = "ci.workflow.failed"
PAYMENT = "finance.payment.webhook"
INVOICE = "finance.invoice.generated"
TABLES = (event_counts, fn_errors, payment_transitions, invoice_totals, ci_failures)

Hour = datetime


def event_hour(row: Mapping[Any, Any]) -> Hour:
    at: datetime = min(row["occurred_at"], row["received_at"])
    return at.replace(minute=0, second=0, microsecond=0)


def label(value: Any, width: int) -> str:
    """A payload value as a counter's key: text or a number, cut to the column's width."""
    if isinstance(value, str):
        return value[:width]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)[:width]
    return ""


def _amount(money: Any) -> tuple[str, int] | None:
    if not isinstance(money, dict):
        return None
    amount, currency = money.get("amount_minor"), money.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int):
        return None
    return label(currency, 8), amount


@dataclass
class ReportPlan:
    """What a batch adds: increments only, so it is computed before the write transaction."""

    events: Counter[tuple[Hour, str, str]] = field(default_factory=Counter)
    fn_errors: Counter[tuple[Hour, str, str]] = field(default_factory=Counter)
    payments: Counter[tuple[Hour, str, str]] = field(default_factory=Counter)
    invoices: Counter[tuple[Hour, str]] = field(default_factory=Counter)
    invoice_minor: Counter[tuple[Hour, str]] = field(default_factory=Counter)
    ci: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: Mapping[Any, Any]) -> None:
        hour, etype = event_hour(row), row["type"]
        self.events[hour, etype, row["source"]] += 1
        if etype not in _NOTABLE:
            return
        payload = row["payload"] or {}
        if etype == FN_ERROR:
            key = (hour, label(payload.get("fn_name"), 128), label(payload.get("severity"), 16))
            self.fn_errors[key] += 1
        elif etype == PAYMENT:
            before, after = payload.get("status_before"), payload.get("status_after")
            self.payments[hour, label(before, 64), label(after, 64)] += 1
        elif etype == INVOICE:
            currency, amount = _amount(payload.get("total")) or ("", 0)
            self.invoices[hour, currency] += 1
            self.invoice_minor[hour, currency] += amount
        else:
            self.ci.append({
                "event_id": row["event_id"], "at": min(row["occurred_at"], row["received_at"]),
                "repo": label(payload.get("repo"), 200), "run_id": label(payload.get("run_id"), 64),
                "job": label(payload.get("job"), 200), "url": label(payload.get("url"), 2000),
            })  # fmt: skip

    def apply(self, conn: Connection) -> None:
        statements = _UPSERTS[conn.dialect.name]
        for table, rows in (
            (event_counts, [{"bucket_start": h, "type": t, "source": s, "events": n}
                            for (h, t, s), n in self.events.items()]),
            (fn_errors, [{"bucket_start": h, "fn_name": f, "severity": s, "errors": n}
                         for (h, f, s), n in self.fn_errors.items()]),
            (payment_transitions, [{"bucket_start": h, "status_before": b, "status_after": a,
                                    "payments": n} for (h, b, a), n in self.payments.items()]),
            (invoice_totals, [{"bucket_start": h, "currency": c, "invoices": n,
                               "total_minor": self.invoice_minor[h, c]}
                              for (h, c), n in self.invoices.items()]),
            (ci_failures, self.ci),
        ):  # fmt: skip
            if rows:
                conn.execute(statements[table.name], rows)


_NOTABLE = {FN_ERROR, CI_FAILED, PAYMENT, INVOICE}


def plan_rows(rows: Iterable[Mapping[Any, Any]]) -> ReportPlan:
    plan = ReportPlan()
    for row in rows:
        plan.add(row)
    return plan


def report_handler(_catalog: Catalog, rows: EventRows) -> Effect:
    """The routing handler: the batch's counts, written with the batch."""
    return plan_rows(rows).apply


class _Rebuild:
    """`ct rebuild`'s part (health/service.py `rebuild`): empty the tables, then fold every
    routed event again."""

    def reset(self, conn: Connection) -> None:
        for table in TABLES:
            conn.execute(delete(table))

    def apply(self, conn: Connection, rows: EventRows) -> None:
        plan_rows(rows).apply(conn)


REBUILD = _Rebuild()

_INSERTS: dict[str, Callable[[Any], Any]] = {"postgresql": postgresql.insert,
                                             "sqlite": sqlite.insert}  # fmt: skip


def _upsert(insert: Callable[[Any], Any], table: Table) -> Any:
    stmt = insert(table)
    keys = [c.name for c in table.primary_key.columns]
    if table is ci_failures:  # an event is one failure: a replayed one is already there
        return stmt.on_conflict_do_nothing(index_elements=keys)
    counters = [c.name for c in table.columns if c.name not in keys]
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + stmt.excluded[name] for name in counters}
    )


# Built once per dialect and table, so SQLAlchemy compiles each once.
_UPSERTS = {
    dialect: {table.name: _upsert(insert, table) for table in TABLES}
    for dialect, insert in _INSERTS.items()
}
