"""The dashboards' gauges on /metrics, set from the same queries as the panels, so Grafana
(`ct dashboards export --grafana`) draws what the UI shows.

Run when /metrics is read, at most once per `REFRESH_SECONDS` (the panels' own reads are
bounded, but a scraper every few seconds need not repeat them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.dashboards import repository
from control_tower.dashboards.buckets import percentile
from control_tower.dashboards.panels import ci, exceptions, finance, runs
from control_tower.dashboards.schemas import PanelRequest
from control_tower.health import service as health_service
from control_tower.observability.metrics import Metrics

REFRESH_SECONDS = 30.0
STATUS_CODE = {"green": 0, "amber": 1, "red": 2, "unknown": 3}
PAID_CURRENCY = "unknown"  # a payment event carries none


def refresh_gauges(
    conn: Connection, catalog: Catalog, now: datetime, metrics: Metrics, *, force: bool = False
) -> bool:
    """Set the dashboards' gauges; False when they were set less than REFRESH_SECONDS ago."""
    clock = time.monotonic()
    last = metrics.dashboards_refreshed_at
    if not force and last is not None and clock - last < REFRESH_SECONDS:
        return False
    metrics.dashboards_refreshed_at = clock

    def request(days: int) -> PanelRequest:
        return PanelRequest(catalog, now, timedelta(days=days))

    _systems(conn, catalog, now, metrics)
    _runs(conn, request(30), metrics)
    _finance(conn, request, metrics)
    metrics.ci_failed_workflows.clear()
    for repo_name, per_day in ci.by_repo(conn, request(7)).series:
        metrics.ci_failed_workflows.labels(repo_name, "7d").set(sum(v or 0 for v in per_day))
    metrics.fn_errors.clear()
    top = exceptions.top_functions(conn, request(7))
    for name, value in zip(top.x_labels, top.series[0][1] if top.series else [], strict=False):
        metrics.fn_errors.labels(name, "7d").set(value or 0)
    return True


def _systems(conn: Connection, catalog: Catalog, now: datetime, metrics: Metrics) -> None:
    overview = health_service.overview(conn, catalog, now)
    states = repository.system_states(conn)
    for s in overview.systems:
        metrics.system_status.labels(s.system_id).set(STATUS_CODE[s.status.value])
        state = states.get(s.system_id)
        seen = [t for t in (s.last_heartbeat_at, state.last_event_at if state else None) if t]
        if seen:
            metrics.system_last_seen.labels(s.system_id).set(max(seen).timestamp())


def _runs(conn: Connection, req: PanelRequest, metrics: Metrics) -> None:
    rows, _ = runs.window_runs(conn, req)
    for gauge in (metrics.runs_window, metrics.run_success_ratio, metrics.run_duration):
        gauge.clear()
    for days in (7, 30):
        window = f"{days}d"
        since = req.now - timedelta(days=days)
        recent = [r for r in rows if r.created_at >= since]
        for trigger in {r.trigger for r in recent}:
            for status in {r.status for r in recent if r.trigger == trigger}:
                count = sum(1 for r in recent if r.trigger == trigger and r.status == status)
                metrics.runs_window.labels(trigger, status, window).set(count)
        for trigger, rate in runs.success_rates(rows, req, days).items():
            if rate is not None:
                metrics.run_success_ratio.labels(trigger, window).set(rate / 100)
    for t in req.catalog.triggers:
        taken = runs.durations(rows, t.name)
        for quantile in (50, 95):
            value = percentile(taken, quantile)
            if value is not None:
                metrics.run_duration.labels(t.name, f"0.{quantile}", "30d").set(value)


def _finance(conn: Connection, request: Callable[[int], PanelRequest], metrics: Metrics) -> None:
    metrics.invoices.clear()
    metrics.invoice_amount.clear()
    for days in (1, 30):
        f = finance.finance(conn, request(days))
        window = f"{days}d"
        for code, c in f.currencies.items():
            metrics.invoices.labels("generated", code, window).set(c.generated)
            metrics.invoice_amount.labels("generated", code, window).set(c.generated_minor)
        # A payment event carries no amount or currency: paid invoices are counted, not summed.
        metrics.invoices.labels("paid", PAID_CURRENCY, window).set(f.paid)
