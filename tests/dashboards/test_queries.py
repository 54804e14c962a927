"""The panels' queries on both stores: the 7-day status strip, run success rates and
durations, money from minor units, and the gauges /metrics takes from the same queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.dashboards.buckets import floor_day, money, percentile
from control_tower.dashboards.metrics import refresh_gauges
from control_tower.dashboards.queries import run_query
from control_tower.dashboards.schemas import PanelRequest, SeriesData, StatusGridData
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import system_status_changes
from control_tower.observability.metrics import Metrics
from control_tower.runs import service as runs_service
from control_tower.runs.lifecycle import record_transition
from control_tower.runs.schemas import RunStatus


def test_money_is_exact_in_each_currencys_minor_units() -> None:
    assert money(125000, "GBP") == "1,250.00 GBP"
    assert money(99, "EUR") == "0.99 EUR"
    assert money(-5, "GBP") == "-0.05 GBP"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(1234567, "KWD") == "1,234.567 KWD"
    assert money(2**62 + 1, "GBP").endswith(".05 GBP")  # no float ever held it
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)


def test_the_strip_shows_each_days_worst_status(
    engine: Engine, catalog: Catalog, clock: FrozenClock
) -> None:
    noon = clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    changes = [  # backend: red 3 days ago for an hour, amber since yesterday
        ("backend", noon - timedelta(days=9), "unknown", "green"),
        ("backend", noon - timedelta(days=3), "green", "red"),
        ("backend", noon - timedelta(days=3, hours=-1), "red", "green"),
        ("backend", noon - timedelta(days=1), "green", "amber"),
    ]
    with unit_of_work(engine) as conn:
        conn.execute(system_status_changes.insert(), [
            {"system_id": s, "at": at, "from_status": a, "to_status": b, "reasons": []}
            for s, at, a, b in changes
        ])  # fmt: skip
        req = PanelRequest(catalog, noon, timedelta(days=7))
        grid = run_query(conn, "health.history", req)
    assert isinstance(grid, StatusGridData)
    backend = next(r for r in grid.rows if r.system_id == "backend")
    assert [c.status for c in backend.cells] == ["green"] * 3 + ["red", "green", "amber", "amber"]
    assert backend.cells[3].detail == "2 changes"
    portal = next(r for r in grid.rows if r.system_id == "portal")
    assert {c.status for c in portal.cells} == {"unknown"}
    assert grid.columns[-1] == f"{noon:%m-%d}"


def finish(engine: Engine, catalog: Catalog, run_id: str, status: RunStatus, at: datetime) -> None:
    with unit_of_work(engine) as conn:
        for old, new in ((RunStatus.queued, RunStatus.running), (RunStatus.running, status)):
            record_transition(conn, catalog, run_id=run_id, trigger="contract.regenerate",
                              from_status=old, to_status=new, at=at, actor="worker",
                              reason="HTTP 500" if new is RunStatus.failed else "")  # fmt: skip


def test_run_success_rates_durations_and_their_gauges(
    engine: Engine, catalog: Catalog, clock: FrozenClock
) -> None:
    caller = runs_service.Caller("op", Role.operator)
    outcomes = [(20, RunStatus.success), (3, RunStatus.success), (2, RunStatus.failed),
                (1, RunStatus.success)]  # (days ago, outcome)  # fmt: skip
    for n, (days, outcome) in enumerate(outcomes):
        at = clock.now() - timedelta(days=days)
        with unit_of_work(engine) as conn:
            inputs = {"contract_id": f"K-{n}"}
            run = runs_service.start_run(
                conn, catalog, "contract.regenerate", inputs, caller=caller, now=at
            )
        finish(engine, catalog, run.run_id, outcome, at + timedelta(seconds=10 * (n + 1)))
    with unit_of_work(engine, write=False) as conn:
        req = PanelRequest(catalog, clock.now(), timedelta(days=30))
        rates = run_query(conn, "runs.success_rate", req)
        durations = run_query(conn, "runs.duration", req)
        reasons = run_query(conn, "runs.failure_reasons", req)
        metrics = Metrics()
        assert refresh_gauges(conn, catalog, clock.now(), metrics, force=True)
        assert not refresh_gauges(conn, catalog, clock.now(), metrics)  # throttled
    assert isinstance(rates, SeriesData)
    assert isinstance(durations, SeriesData)
    column = rates.x_labels.index("contract.regenerate")
    by_window = {name: values[column] for name, values in rates.series}
    assert by_window["7 days"] == pytest.approx(200 / 3)
    assert by_window["30 days"] == pytest.approx(75.0)
    assert rates.series[0][1][rates.x_labels.index("portal.notify.retry")] is None
    p50 = dict(durations.series)["p50"][column]
    assert p50 == pytest.approx(25.0)
    assert [c.text for c in reasons.rows[0][:3]] == ["contract.regenerate", "HTTP 500", "1"]
    ratio = metrics.registry.get_sample_value(
        "ct_run_success_ratio", {"trigger": "contract.regenerate", "window": "30d"}
    )
    assert ratio == pytest.approx(0.75)
    assert metrics.registry.get_sample_value("ct_system_status", {"system": "backend"}) == 3


def test_events_per_hour_buckets_by_the_hour_events_happened(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: object, router: object
) -> None:
    now = clock.now()
    for hours in (0, 0, 5):
        emit("system.heartbeat", "backend", {"system_id": "backend"},  # type: ignore[operator]
             occurred_at=now - timedelta(hours=hours))  # fmt: skip
    router.drain()  # type: ignore[attr-defined]
    with unit_of_work(engine, write=False) as conn:
        chart = run_query(conn, "events.per_hour_by_type", PanelRequest(
            catalog, now, timedelta(hours=24)))  # fmt: skip
    assert isinstance(chart, SeriesData)
    [(name, values)] = chart.series
    assert name == "system.heartbeat"
    assert len(values) == 24
    assert values[-1] == 2
    assert values[-6] == 1
    assert chart.x_labels[-1] == f"{now.astimezone(UTC):%H}:00"


def test_finance_counts_and_sums_minor_units(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: object, router: object
) -> None:
    now = clock.now()
    for n, (amount, currency) in enumerate(((125000, "GBP"), (99, "GBP"), (5000, "EUR"))):
        emit(
            "finance.invoice.generated",
            "finance",
            {  # type: ignore[operator]
                "invoice_id": f"INV-{n}",
                "period": "p",
                "total": {"amount_minor": amount, "currency": currency},
                "vat": {"amount_minor": 0, "currency": currency},
            },
            occurred_at=now - timedelta(days=n + 1),
        )
    # Paid at the start of today's (UTC) bucket: "an hour ago" is yesterday just after midnight.
    emit("finance.payment.webhook", "finance", {"invoice_id": "INV-0", "status_before": "sent",  # type: ignore[operator]
         "status_after": "paid"}, occurred_at=floor_day(now))  # fmt: skip
    router.drain()  # type: ignore[attr-defined]
    with unit_of_work(engine, write=False) as conn:
        req = PanelRequest(catalog, now, timedelta(days=30))
        per_day = run_query(conn, "finance.per_day", req)
        table = run_query(conn, "finance.currencies", req)
        metrics = Metrics()
        assert refresh_gauges(conn, catalog, now, metrics, force=True)
    assert isinstance(per_day, SeriesData)
    generated, paid = (values for _, values in per_day.series)
    assert sum(v or 0 for v in generated) == 3
    assert paid[-1] == 1
    rows = {r[0].text: [c.text for c in r[1:]] for r in table.rows}  # type: ignore[union-attr]
    assert rows["GBP"][:2] == ["2", "1,250.99 GBP"]
    assert rows["EUR"][:2] == ["1", "50.00 EUR"]
    # Grafana's "generated vs paid" sums ct_invoices by status: the paid count must be there.
    gauge = metrics.registry.get_sample_value
    assert gauge("ct_invoices", {"status": "paid", "currency": "unknown", "window": "30d"}) == 1
    assert gauge("ct_invoices", {"status": "generated", "currency": "GBP", "window": "30d"}) == 2
    assert (
        gauge(
            "ct_invoice_amount_minor", {"status": "generated", "currency": "GBP", "window": "30d"}
        )
        == 125099
    )
    assert (
        gauge("ct_invoice_amount_minor", {"status": "paid", "currency": "GBP", "window": "30d"})
        is None
    )  # unknown
