"""Prometheus metrics, on a registry per app so tests and workers never share global state."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_ingested = Counter(
            "ct_events_ingested",
            "Events received, by source, type and outcome (accepted|duplicate|conflict|rejected).",
            ["source", "type", "outcome"],
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "ct_ingest_latency_seconds",
            "Time to answer an ingest request, commit included.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "ct_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "ct_http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.routed = Counter(
            "ct_router_events",
            "Router outcomes per event: routed, retrying (a failed attempt), dead.",
            ["outcome"],
            registry=self.registry,
        )
        self.dlq_depth = Gauge(
            "ct_dlq_depth", "Events in the dead-letter queue.", registry=self.registry
        )
        self.retrying = Gauge(
            "ct_events_retrying", "Events waiting for another routing attempt.",
            registry=self.registry,
        )  # fmt: skip
        self.polls = Counter(
            "ct_polls",
            "Scheduled polls by poller and outcome (ok|not_modified|failed|skipped|backoff|error).",
            ["poller", "outcome"],
            registry=self.registry,
        )
        self.poll_duration = Histogram(
            "ct_poll_duration_seconds",
            "Time one scheduled poll took, storing its events included.",
            ["poller"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.poll_events = Counter(
            "ct_poll_events", "New events stored by scheduled polls.", ["poller"],
            registry=self.registry,
        )  # fmt: skip
        self.pending = Gauge(
            "ct_events_pending", "Acknowledged events not yet routed (the routing backlog).",
            registry=self.registry,
        )  # fmt: skip
        # What the dashboards draw, for Grafana (dashboards/metrics.py sets them from the
        # panels' own queries when /metrics is read, at most once per panel refresh).
        self.system_status = Gauge(
            "ct_system_status",
            "Each system's status: 0 green, 1 amber, 2 red, 3 unknown.",
            ["system"],
            registry=self.registry,
        )
        self.system_last_seen = Gauge(
            "ct_system_last_seen_timestamp_seconds",
            "When each system last sent a heartbeat or an event (Unix time).",
            ["system"],
            registry=self.registry,
        )
        self.runs_window = Gauge(
            "ct_runs",
            "Runs created in the window, by trigger and status.",
            ["trigger", "status", "window"],
            registry=self.registry,
        )
        self.run_success_ratio = Gauge(
            "ct_run_success_ratio",
            "Runs that succeeded, of those that succeeded or failed, in the window (0-1).",
            ["trigger", "window"],
            registry=self.registry,
        )
        self.run_duration = Gauge(
            "ct_run_duration_seconds",
            "Run duration from queued to finished, by trigger and quantile, in the window.",
            ["trigger", "quantile", "window"],
            registry=self.registry,
        )
        self.invoices = Gauge(
            "ct_invoices",
            "Invoices generated and paid in the window, by currency.",
            ["status", "currency", "window"],
            registry=self.registry,
        )
        self.invoice_amount = Gauge(
            "ct_invoice_amount_minor",
            "Sum of invoice totals in minor units, generated and paid, in the window.",
            ["status", "currency", "window"],
            registry=self.registry,
        )
        self.ci_failed_workflows = Gauge(
            "ct_ci_failed_workflows",
            "Failed CI workflows in the window, by repository.",
            ["repo", "window"],
            registry=self.registry,
        )
        self.fn_errors = Gauge(
            "ct_fn_errors",
            "backend.fn.error events in the window, by function.",
            ["fn_name", "window"],
            registry=self.registry,
        )
        # When the dashboards' gauges were last set (monotonic seconds), so a scrape every
        # few seconds does not run their queries every time.
        self.dashboards_refreshed_at: float | None = None
        self._series: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def series(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: the lookup by labels costs more than the
        update, and the hot paths (every request, every event) update few combinations."""
        key = (metric, labels)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = metric.labels(*labels)
        return found
