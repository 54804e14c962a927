"""The lock-free hot-path metrics expose what prometheus_client's own would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from control_tower.observability.loop_metrics import LoopCounter, LoopHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def _without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


def test_loop_metrics_expose_the_samples_of_prometheus_client_metrics() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = LoopCounter("t_events", "Events.", ["source", "outcome"], ours)
    reference_counter = Counter("t_events", "Events.", ["source", "outcome"], registry=theirs)
    histogram = LoopHistogram("t_latency_seconds", "Latency.", ["endpoint"], ours, BUCKETS)
    reference_histogram = Histogram(
        "t_latency_seconds", "Latency.", ["endpoint"], buckets=BUCKETS, registry=theirs
    )
    # Values on a bound belong to that bound's bucket (le), past the last one to +Inf.
    for value in (0.0, 0.001, 0.0010001, 0.05, 1.0, 7.5):
        histogram.labels("single").observe(value)
        reference_histogram.labels("single").observe(value)
    histogram.labels("batch").observe(0.2)
    reference_histogram.labels("batch").observe(0.2)
    counter.labels("backend", "accepted").inc()
    counter.labels("backend", "accepted").inc(41)
    counter.labels("portal", "rejected").inc()
    reference_counter.labels("backend", "accepted").inc(42)
    reference_counter.labels("portal", "rejected").inc()

    assert _without_created(generate_latest(ours)) == _without_created(generate_latest(theirs))
    assert (
        ours.get_sample_value("t_latency_seconds_bucket", {"endpoint": "single", "le": "0.001"})
        == 2.0
    )
    assert (
        ours.get_sample_value("t_events_total", {"source": "backend", "outcome": "accepted"}) == 42
    )
    assert ours.get_sample_value("t_latency_seconds_created", {"endpoint": "batch"}) is not None
