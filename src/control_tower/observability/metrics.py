"""Prometheus metrics, on a registry per app so tests and workers never share global state."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from control_tower.observability.loop_metrics import LoopCounter, LoopHistogram

C_co = TypeVar("C_co", covariant=True)


class _Labelled(Protocol[C_co]):
    def labels(self, *values: str) -> C_co: ...


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, router_child: bool = False) -> None:
        """`router_child`: the router runs in `ct serve`'s child process, which counts
        `ct_router_events` itself (/metrics appends them); this process reports whether that
        child answered instead."""
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        # Updated on every request, on the event-loop thread only: lock-free (loop_metrics).
        self.events_ingested = LoopCounter(
            "ct_events_ingested",
            "Events received, by source, type and outcome (accepted|duplicate|conflict|rejected).",
            ["source", "type", "outcome"],
            registry=self.registry,
        )
        self.ingest_latency = LoopHistogram(
            "ct_ingest_latency_seconds",
            "Time to answer an ingest request, commit included.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = LoopCounter(
            "ct_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = LoopHistogram(
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

        self.router_up: Gauge | None = None
        if router_child:
            self.registry.unregister(self.routed)
            self.router_up = Gauge(
                "ct_router_process_up",
                "1 if the router process of ct serve answered this scrape, else 0.",
                registry=self.registry,
            )

    def child(self, metric: _Labelled[C_co], *values: str) -> C_co:
        """`metric.labels(*values)`, kept: labels() takes a lock and builds a key each call,
        which the hot paths (every request, every event) need not pay."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found
