"""PostgreSQL goes away under load and comes back; CT rides it out (issue 15).

A real `ct serve` on a throwaway PostgreSQL cluster (tests/faults/conftest.py) takes signed
events from several producer threads. Mid-load the cluster is stopped (`pg_ctl stop -m fast`, a
clean shutdown, or `-m immediate`, a crash), left down for a few seconds, and started again,
while the producers keep sending. Then:

- during the outage every answer is 503 (`store_unavailable` or `store_error`) or 429, each 503
  with Retry-After; no answer anywhere is a 500;
- `/readyz` says 503 with a reason during the outage and 200 after, from the same CT process:
  CT recovers without a restart;
- every event ever acknowledged (2xx) is in the database exactly once: none lost;
- every request that was not acknowledged, sent again as is, is answered 202 (stored now) or
  200 duplicate (it had been stored, its answer was lost), and its events are stored once;
- the router, which failed too, routes every event once the store is back;
- the failures take a handful of log lines: one per kind of failure per 10 s.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TEST_MASTER_KEY
from tests.faults.load import ACKNOWLEDGED, ProducerLoad, Sent, client, post, status_counts
from tests.faults.postgres_cluster import StopMode, ThrowawayPostgres
from tests.helpers import Producer, wait_for
from tests.servers import CTServer, ct_env, producer_from_cli, run_server

LOAD_THREADS = 4
WARMUP_ACKS = 60  # acknowledged requests before the store goes away
OUTAGE_SECONDS = 5.0
RECOVERY_TIMEOUT_SECONDS = 20.0
LOAD_AFTER_RECOVERY_SECONDS = 1.0
STORE_DOWN_CODES = {"store_unavailable", "store_error"}
LOG_THROTTLE_SECONDS = 10.0  # control_tower.kit.log_throttle.ThrottledLog's interval
# Logged through that throttle: by the error handler (a request failed on the store) and by
# the group committer (a commit failed).
THROTTLED_EVENTS = {"store_unavailable", "group_commit_failed"}
HANDFUL = 6
ROUTER_LEASE_SECONDS = 5
ROUTING_TIMEOUT_SECONDS = 20.0


@dataclass
class Timeline:
    """time.monotonic() at each step of the outage."""

    stop_sent: float = 0.0  # `pg_ctl stop` begins
    down: float = 0.0  # … has returned: PostgreSQL is gone
    start_sent: float = 0.0  # `pg_ctl start` begins
    up: float = 0.0  # … has returned: PostgreSQL accepts connections
    recovered: float = 0.0  # the first acknowledgement of a request sent after `up`
    load_stopped: float = 0.0

    def during_outage(self, sent: Sent) -> bool:
        return sent.sent_at >= self.down and sent.answered_at <= self.start_sent


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_ct_rides_out_a_postgres_outage(
    mode: StopMode, throwaway_postgres: ThrowawayPostgres, outage_database: str, tmp_path: Path
) -> None:
    # A router's claim that the outage interrupted is taken again when its lease ends: a
    # shorter lease than the default 30 s keeps the routing check within the test's budget.
    env = ct_env(
        outage_database, tmp_path / "data", TEST_MASTER_KEY,
        router_lease_seconds=str(ROUTER_LEASE_SECONDS),
    )  # fmt: skip
    producer = producer_from_cli(
        env, "fault-producer", "backend", "--rate-per-minute", "1000000", "--burst", "1000000"
    )
    with run_server(env, tmp_path / "logs") as server:
        sent, times, readiness = outage_under_load(server, producer, throwaway_postgres, mode)
        after = readyz(server)
        assert after.status_code == 200, f"/readyz after the outage: {after.text}"
        assert server.alive(), "CT exited during the outage"
        stored_before = stored_counts(outage_database)
        resent = post_again(server, producer, [s for s in sent if not s.acknowledged])
        routes = routes_once_settled(outage_database, ROUTING_TIMEOUT_SECONDS)
        log_lines = server.log_lines()
    stored_after = stored_counts(outage_database)

    figures = outage_figures(mode, sent, times, resent, stored_before, stored_after, log_lines)
    figures["readyz_during_outage"] = readiness[0].json() if readiness else None
    figures["routes"] = routes
    print_figures(figures)
    check_answers(sent, times)
    check_readiness(readiness)
    check_nothing_lost(sent, stored_before)
    check_resent_accepted_once(resent, stored_before, stored_after)
    check_log(log_lines, times)
    assert set(routes) == {"routed"}, f"routes of the events after the outage: {routes}"


def outage_under_load(
    server: CTServer, producer: Producer, cluster: ThrowawayPostgres, mode: StopMode
) -> tuple[list[Sent], Timeline, list[httpx.Response]]:
    """Producers send throughout; PostgreSQL is stopped mid-load and started again."""
    times = Timeline()
    load = ProducerLoad(server, producer, f"fault-{mode}", LOAD_THREADS)
    load.start()
    try:
        wait_for(lambda: load.acknowledged_since(0.0) >= WARMUP_ACKS, timeout=15)
        times.stop_sent = time.monotonic()
        cluster.stop(mode)
        times.down = time.monotonic()
        readiness = []
        while time.monotonic() < times.down + OUTAGE_SECONDS:
            readiness.append(readyz(server))
            time.sleep(0.5)
        times.start_sent = time.monotonic()
        cluster.start()
        times.up = time.monotonic()
        deadline = times.up + RECOVERY_TIMEOUT_SECONDS
        while not load.acknowledged_since(times.up):
            assert time.monotonic() < deadline, (
                f"CT accepted nothing {RECOVERY_TIMEOUT_SECONDS} s after PostgreSQL came back: "
                f"{status_counts([s for s in load.snapshot() if s.sent_at >= times.up])}\n"
                f"{server.log_text()[-3000:]}"
            )
            time.sleep(0.02)
        times.recovered = time.monotonic()
        time.sleep(LOAD_AFTER_RECOVERY_SECONDS)
    finally:
        load.stop()
        times.load_stopped = time.monotonic()
    return load.sent, times, readiness


def readyz(server: CTServer) -> httpx.Response:
    with client(server) as http:
        return http.get("/readyz")


def post_again(
    server: CTServer, producer: Producer, unacknowledged: list[Sent]
) -> list[tuple[Sent, Sent]]:
    """Each request with the same body again, as a producer retries; (first, again) pairs."""
    pairs = []
    with client(server) as http:
        for first in unacknowledged:
            started = time.monotonic()
            answer = post(http, producer, first.path, first.body)
            again = Sent(first.path, first.ids, first.body, started, time.monotonic(), answer)
            pairs.append((first, again))
    return pairs


def libpq_dsn(database_url: str) -> str:
    """CT's SQLAlchemy URL as psycopg takes it: the test reads the store without CT's code."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def stored_counts(database_url: str) -> dict[str, int]:
    """event_id -> rows in `events`, for the ids the load sent, read straight from PostgreSQL."""
    with psycopg.connect(libpq_dsn(database_url), connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT event_id, count(*) FROM events WHERE event_id LIKE %s GROUP BY event_id",
            ("fault-%",),
        ).fetchall()
    return dict(rows)


def routes_once_settled(database_url: str, timeout: float) -> dict[str, int]:
    """The routes of the load's events by status, once none is waiting (pending, retrying) or
    the timeout has passed: the router carries on after the outage without a restart."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_dsn(database_url), connect_timeout=10, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT status, count(*) FROM event_routes WHERE event_id LIKE %s GROUP BY status",
                ("fault-%",),
            ).fetchall()
            by_status: dict[str, int] = dict(rows)
            if not {"pending", "retrying"} & by_status.keys() or time.monotonic() > deadline:
                return by_status
            time.sleep(0.2)


def check_answers(sent: list[Sent], times: Timeline) -> None:
    """Never a 500 (nor any answer but 2xx, 429, 503), always an answer; every 503 says the
    store is down and when to retry; during the outage nothing but 503 or 429."""
    unexpected = [s for s in sent if s.answer.status not in {*ACKNOWLEDGED, 429, 503}]
    assert not unexpected, f"{len(unexpected)} unexpected answers: {describe(unexpected[:5])}"
    unavailable = [s for s in sent if s.answer.status == 503]
    wrong = [s for s in unavailable if s.answer.code not in STORE_DOWN_CODES]
    assert not wrong, f"503 with an unexpected code: {describe(wrong[:3])}"
    no_retry = [s for s in unavailable if not (s.answer.retry_after or "").isdigit()]
    assert not no_retry, (
        f"{len(no_retry)} 503 answers without Retry-After: {describe(no_retry[:3])}"
    )
    outage = [s for s in sent if times.during_outage(s)]
    assert outage, "no request was answered while PostgreSQL was down"
    other = [s for s in outage if s.answer.status not in (503, 429)]
    assert not other, f"during the outage, answers other than 503/429: {describe(other[:3])}"
    refused_items = [
        (s.ids, s.answer.items) for s in sent
        if s.answer.status in ACKNOWLEDGED and not s.acknowledged
    ]  # fmt: skip
    assert not refused_items, f"batch items refused: {refused_items[:3]}"


def check_readiness(during: list[httpx.Response]) -> None:
    assert during, "/readyz was not asked during the outage"
    for answer in during:
        assert answer.status_code == 503, f"/readyz during the outage: {answer.text}"
        assert answer.json().get("reason"), f"/readyz 503 without a reason: {answer.text}"
        assert answer.headers.get("retry-after", "").isdigit(), answer.headers


def check_nothing_lost(sent: list[Sent], stored: dict[str, int]) -> None:
    acknowledged = {i for s in sent if s.acknowledged for i in s.ids}
    lost = sorted(acknowledged - stored.keys())
    assert not lost, f"{len(lost)} acknowledged events are not stored: {lost[:10]}"
    doubled = {i: n for i, n in stored.items() if n != 1}
    assert not doubled, f"events stored more than once: {doubled}"
    sent_ids = {i for s in sent for i in s.ids}
    assert stored.keys() <= sent_ids, "the store holds events nobody sent"


def check_resent_accepted_once(
    resent: list[tuple[Sent, Sent]], stored_before: dict[str, int], stored_after: dict[str, int]
) -> None:
    for first, again in resent:
        assert again.acknowledged, (
            f"resending {first.path} {first.ids} (first answer {first.answer}) was answered "
            f"{again.answer}"
        )
        for event_id in first.ids:
            # 200 duplicate exactly when the first attempt had stored it, 202 otherwise.
            expected = 200 if event_id in stored_before else 202
            assert again.answer.items[event_id] == expected, (event_id, first.answer, again.answer)
            assert stored_after.get(event_id) == 1, (event_id, stored_after.get(event_id))
    all_ids = {i for first, _ in resent for i in first.ids} | stored_before.keys()
    assert stored_after.keys() == all_ids, "after the resends every event sent is stored"


def store_failure_lines(log_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in log_lines if line.get("event") == "store_unavailable"]


def check_log(log_lines: list[dict[str, Any]], times: Timeline) -> None:
    crashes = [line for line in log_lines if line.get("event") == "unhandled_error"]
    assert not crashes, f"unhandled errors logged: {crashes[:2]}"
    # One line per kind of failure per interval: over the span in which requests failed, a
    # kind can be logged once, plus once per whole interval.
    span = times.load_stopped - times.stop_sent
    allowed = 1 + int(span // LOG_THROTTLE_SECONDS)
    throttled = Counter(
        (line["event"], str(line.get("kind")))
        for line in log_lines
        if line.get("event") in THROTTLED_EVENTS
    )
    assert all(n <= allowed for n in throttled.values()), (throttled, f"{span:.1f} s")
    assert len(store_failure_lines(log_lines)) <= HANDFUL, throttled


def describe(sent: list[Sent]) -> list[str]:
    return [f"{s.path} {s.ids[:2]} -> {s.answer}" for s in sent]


def outage_figures(
    mode: str,
    sent: list[Sent],
    times: Timeline,
    resent: list[tuple[Sent, Sent]],
    stored_before: dict[str, int],
    stored_after: dict[str, int],
    log_lines: list[dict[str, Any]],
) -> dict[str, Any]:
    acknowledged = {i for s in sent if s.acknowledged for i in s.ids}
    unacknowledged_ids = {i for first, _ in resent for i in first.ids}
    return {
        "mode": mode,
        "requests": len(sent),
        "events_sent": sum(len(s.ids) for s in sent),
        "statuses": dict(status_counts(sent)),
        "statuses_during_outage": dict(status_counts([s for s in sent if times.during_outage(s)])),
        "outage_seconds": round(times.start_sent - times.down, 1),
        "pg_restart_seconds": round(times.up - times.start_sent, 2),
        "recovery_after_pg_up_seconds": round(times.recovered - times.up, 2),
        "refused_after_recovery": sum(
            1 for s in sent if s.sent_at >= times.recovered and not s.acknowledged
        ),
        "acknowledged_events": len(acknowledged),
        "stored_events": sum(stored_before.values()),
        "lost": len(acknowledged - stored_before.keys()),
        "duplicates": sum(n - 1 for n in stored_after.values()),
        "resent_requests": len(resent),
        "resent_answers": dict(status_counts([again for _, again in resent])),
        "resent_events": dict(
            Counter(str(n) for _, again in resent for n in again.answer.items.values())
        ),
        "unacknowledged_but_stored": len(unacknowledged_ids & stored_before.keys()),
        "stored_after_resend": len(stored_after),
        "store_unavailable_log_lines": dict(
            Counter(str(line.get("kind")) for line in store_failure_lines(log_lines))
        ),
        "group_commit_failed_log_lines": sum(
            1 for line in log_lines if line.get("event") == "group_commit_failed"
        ),
    }


def print_figures(figures: dict[str, Any]) -> None:
    print(f"\n== PostgreSQL outage (pg_ctl stop -m {figures['mode']}) ==")  # noqa: T201
    for key, value in figures.items():
        print(f"  {key}: {value}")  # noqa: T201
