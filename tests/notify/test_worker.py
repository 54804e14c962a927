"""The delivery worker: retries with backoff (and Retry-After), dead after the cap, leases, and
several workers sending each notification once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine

from control_tower.kit.clock import FrozenClock
from control_tower.notify.worker import DeliveryWorker
from tests.notify.helpers import (
    FAST_RETRY,
    action,
    alert_message,
    attempts,
    catalog_with,
    queue,
    rows,
    worker,
)
from tests.notify.receivers import Answer, HttpReceiver

SLACK = {"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL", "retry": FAST_RETRY}


def test_a_500_is_retried_with_growing_jittered_backoff_then_dead(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.default = Answer(500, "oops")
    w = worker(engine, catalog, clock, {"SLACK_URL": receiver.url})
    delays = []
    for attempt in (1, 2):
        started = clock.now()
        step = w.deliver_once()
        assert action(step) == "retrying"
        [row] = rows(engine)
        assert (row.status, row.attempts, row.last_error) == ("failed", attempt, "HTTP 500: oops")
        assert row.lease_owner is None
        delay = (row.next_attempt_at - started).total_seconds()
        # Equal jitter: between half and all of min(max, base * 2**(n-1)).
        step_seconds = min(60, 10 * 2 ** (attempt - 1))
        assert step_seconds / 2 <= delay <= step_seconds
        delays.append(delay)
        # Not due before its time; due at it.
        clock.advance(timedelta(seconds=delay) - timedelta(milliseconds=1))
        assert w.deliver_once() is None
        clock.advance(timedelta(milliseconds=1))
    step = w.deliver_once()
    assert action(step) == "dead"
    [row] = rows(engine)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 3, None)
    assert row.last_error == "gave up after 3 attempts: HTTP 500: oops"
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts(engine)] == [
        (1, "retry", 500), (2, "retry", 500), (3, "retry", 500),
    ]  # fmt: skip
    assert len(receiver.received()) == 3
    assert w.deliver_once() is None


def test_a_429_waits_at_least_its_retry_after(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.answer(Answer(429, "rate_limited", {"Retry-After": "120"}))
    w = worker(engine, catalog, clock, {"SLACK_URL": receiver.url})
    start = clock.now()
    step = w.deliver_once()
    assert action(step) == "retrying"
    [row] = rows(engine)
    assert row.next_attempt_at == start + timedelta(seconds=120)  # more than the backoff's 10 s
    assert row.last_error == "HTTP 429: rate_limited"
    clock.advance(timedelta(seconds=119))
    assert w.deliver_once() is None
    clock.advance(timedelta(seconds=1))
    step = w.deliver_once()
    assert action(step) == "sent"
    assert len(receiver.received()) == 2


def test_an_unreachable_channel_is_retried_and_its_url_never_recorded(
    engine: Engine, clock: FrozenClock
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    secret_url = "http://127.0.0.1:9/services/T000/B000/SECRETPATH"
    step = worker(engine, catalog, clock, {"SLACK_URL": secret_url}).deliver_once()
    assert action(step) == "retrying"
    [attempt] = attempts(engine)
    assert attempt.detail == "transport: ConnectError"
    assert "SECRETPATH" not in (rows(engine)[0].last_error or "")


def test_a_channel_gone_from_the_catalogue_ends_its_notifications(
    engine: Engine, clock: FrozenClock
) -> None:
    queue(engine, catalog_with(SLACK), "ops-slack", alert_message(), now=clock.now())
    step = worker(engine, catalog_with(), clock, {}).deliver_once()
    assert action(step) == "dead"
    [row] = rows(engine)
    assert row.last_error == "channel 'ops-slack' is no longer in the catalogue"


def test_a_lost_lease_is_taken_over_and_recorded(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    env = {"SLACK_URL": receiver.url}
    crashed = worker(engine, catalog, clock, env, name="crashed", lease_seconds=30)
    claim = crashed.claim()  # claims, then "crashes" before sending
    assert claim is not None
    other = worker(engine, catalog, clock, env, name="other")
    assert other.deliver_once() is None  # the lease still holds
    clock.advance(timedelta(seconds=10 * 4 + 30))  # the channel's timeouts and the margin
    step = other.deliver_once()
    assert action(step) == "sent"
    assert [(a.attempt, a.outcome, a.worker) for a in attempts(engine)] == [
        (1, "lost", "crashed"),
        (2, "success", "other"),
    ]
    # The crashed worker comes back: its fenced write changes nothing.
    late = crashed.finish(claim, other.send(claim))
    assert late.action == "lost_lease"
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("sent", 2)


def test_two_workers_send_each_notification_once(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    for n in range(20):
        queue(
            engine, catalog, "ops-slack", alert_message(title=f"n{n}"), now=clock.now(), key=f"k{n}"
        )
    receiver.default = Answer(200, "ok", delay=0.02)
    env = {"SLACK_URL": receiver.url}
    workers = [worker(engine, catalog, clock, env, name=f"w{i}") for i in range(2)]
    results: dict[str, int] = {}

    def run(w: DeliveryWorker) -> None:
        results[w.worker_id] = len(w.deliver_until_idle())

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    titles = sorted(r.json()["text"] for r in receiver.received())
    assert titles == sorted(f"n{n}" for n in range(20))  # each once
    assert sum(results.values()) == 20
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(engine))
    assert len(attempts(engine)) == 20
