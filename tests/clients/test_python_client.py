"""The Python producer client against a real `ct serve`: answers, typed errors, batches,
retries with the same id and body, and `Retry-After`."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from ct_producer import (
    AuthenticationError,
    ConflictError,
    DeliveryError,
    Event,
    Producer,
    RejectedError,
)

from tests.clients.conftest import FAST, LiveCT
from tests.clients.proxy import DROP, Answer, ScriptedProxy


def run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def test_send_stores_an_event_once_and_a_resend_is_a_duplicate(ct: LiveCT) -> None:
    with ct.producer() as producer:
        first = producer.send("system.heartbeat", {"system_id": "backend", "version": "1.2"})
        assert (first.status_code, first.duplicate, first.delivered) == (202, False, True)
        assert first.attempts == 1
        stored = ct.event(first.event_id)
        assert stored is not None
        assert stored["payload"] == {"system_id": "backend", "version": "1.2"}
        assert stored["source"] == "backend"
        again = producer.send(
            "system.heartbeat",
            {"system_id": "backend", "version": "1.2"},
            event_id=first.event_id,
            occurred_at=stored["occurred_at"],
        )
        assert (again.status_code, again.duplicate) == (200, True)


def test_the_same_id_with_other_content_is_a_typed_conflict(ct: LiveCT) -> None:
    with ct.producer() as producer:
        first = producer.heartbeat("backend", version="1")
        with pytest.raises(ConflictError) as caught:
            producer.send(
                "system.heartbeat",
                {"system_id": "backend", "version": "2"},
                event_id=first.event_id,
            )
    assert caught.value.status_code == 409
    assert caught.value.code == "event_id_conflict"
    assert caught.value.event_ids == (first.event_id,)


def test_other_4xx_raise_with_the_servers_code_and_are_not_retried(
    ct: LiveCT, proxy: ScriptedProxy
) -> None:
    with ct.producer(proxy.url) as producer:
        with pytest.raises(RejectedError) as unknown:
            producer.send("no.such.type", {})
        assert unknown.value.status_code == 422
        assert unknown.value.code in {"unknown_event_type", "validation_failed"}
    with ct.producer(proxy.url, source="finance") as other_source:
        with pytest.raises(RejectedError) as wrong:
            other_source.send("system.heartbeat", {"system_id": "finance"})
        assert (wrong.value.status_code, wrong.value.code) == (403, "wrong_source")
    assert len(proxy.seen) == 2, "one attempt each: a 4xx is not retried"


@pytest.mark.parametrize("timestamped", [True, False])
def test_a_wrong_secret_is_an_authentication_error(ct: LiveCT, timestamped: bool) -> None:
    producer = Producer(ct.url, ct.token, "whsec_wrong", source="backend", timestamped=timestamped)
    with producer, pytest.raises(AuthenticationError) as caught:
        producer.heartbeat("backend")
    assert caught.value.code == "bad_signature"


def test_both_signature_forms_are_accepted(ct: LiveCT, proxy: ScriptedProxy) -> None:
    for timestamped in (True, False):
        with ct.producer(proxy.url, timestamped=timestamped) as producer:
            assert producer.heartbeat("backend").status_code == 202
    assert "x-ct-timestamp" in proxy.seen[0].headers
    assert "x-ct-timestamp" not in proxy.seen[1].headers


def test_a_batch_answers_each_event_in_order(ct: LiveCT) -> None:
    correlation = run_id()
    with ct.producer() as producer:
        stored = producer.send(
            "system.heartbeat", {"system_id": "backend"}, correlation_id=correlation
        )
        before = ct.event(stored.event_id)
        assert before is not None
        result = producer.send_batch(
            [
                Event("system.heartbeat", {"system_id": "backend"}, correlation_id=correlation),
                Event(
                    "system.heartbeat",
                    {"system_id": "backend"},
                    event_id=stored.event_id,
                    occurred_at=before["occurred_at"],
                    correlation_id=correlation,
                ),
                Event("no.such.type", {}, correlation_id=correlation),
            ]
        )
    assert [r.status_code for r in result] == [202, 200, 422]
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, 1)
    assert result[2].error_code in {"unknown_event_type", "validation_failed"}
    assert len(ct.stored(correlation_id=correlation)) == 2


def test_a_large_batch_is_cut_into_requests_ct_accepts(ct: LiveCT, proxy: ScriptedProxy) -> None:
    correlation = run_id()
    events = [
        Event("system.heartbeat", {"system_id": "backend"}, correlation_id=correlation)
        for _ in range(620)
    ]
    with ct.producer(proxy.url) as producer:
        result = producer.send_batch(events)
    assert result.accepted == 620
    assert [len(json.loads(s.body)["events"]) for s in proxy.seen] == [500, 120]
    assert {e["event_id"] for e in ct.stored(correlation_id=correlation)} == {
        r.event_id for r in result
    }


def test_5xx_and_lost_connections_are_retried_with_the_same_id_and_body(
    ct: LiveCT, proxy: ScriptedProxy
) -> None:
    proxy.script = [Answer(503), DROP, Answer(500)]
    with ct.producer(proxy.url) as producer:
        result = producer.heartbeat("backend")
    assert (result.status_code, result.attempts) == (202, 4)
    assert len({s.body for s in proxy.seen}) == 1, "every attempt sends the same bytes"
    assert json.loads(proxy.seen[0].body)["event_id"] == result.event_id
    assert ct.event(result.event_id) is not None


def test_a_timeout_is_retried_and_a_stored_first_attempt_answers_as_a_duplicate(
    ct: LiveCT, proxy: ScriptedProxy
) -> None:
    proxy.script = [Answer(503, delay=1.5)]
    with ct.producer(proxy.url, timeout=0.3) as producer:
        result = producer.heartbeat("backend")
        assert (result.status_code, result.attempts) == (202, 2)
        # CT stored it but the answer was lost: the retry, with the same id, is a duplicate.
        proxy.script = [Answer(503)]
        proxy.otherwise = "forward"
    stored = ct.event(result.event_id)
    assert stored is not None
    with ct.producer(proxy.url) as producer:
        again = producer.send(
            "system.heartbeat",
            {"system_id": "backend"},
            event_id=result.event_id,
            occurred_at=stored["occurred_at"],
        )
    assert (again.status_code, again.duplicate, again.attempts) == (200, True, 2)


def test_retry_after_is_waited_for(ct: LiveCT, proxy: ScriptedProxy) -> None:
    proxy.script = [Answer(429, {"Retry-After": "1"})]
    with ct.producer(proxy.url) as producer:
        result = producer.heartbeat("backend")
    assert result.attempts == 2
    waited = proxy.seen[1].at - proxy.seen[0].at
    assert waited >= 0.9, f"retried after {waited:.2f} s, before Retry-After: 1"


def test_a_retry_after_longer_than_the_backoff_cap_ends_the_attempts(
    ct: LiveCT, proxy: ScriptedProxy
) -> None:
    proxy.script = [Answer(429, {"Retry-After": "3600"})]
    with ct.producer(proxy.url) as producer, pytest.raises(DeliveryError) as caught:
        producer.heartbeat("backend")
    assert caught.value.attempts == 1
    assert len(proxy.seen) == 1


def test_when_every_attempt_fails_the_error_carries_the_events_to_send_again(
    ct: LiveCT, proxy: ScriptedProxy
) -> None:
    proxy.otherwise = Answer(503)
    with ct.producer(proxy.url, max_attempts=3) as producer, pytest.raises(DeliveryError) as caught:
        producer.send("system.heartbeat", {"system_id": "backend"})
    assert caught.value.attempts == 3
    assert len(proxy.seen) == 3
    [event] = caught.value.events
    assert event.event_id == caught.value.event_ids[0]
    with ct.producer() as producer:
        assert [r.status_code for r in producer.send_batch(caught.value.events)] == [202]
        assert [r.status_code for r in producer.send_batch(caught.value.events)] == [200]


def test_a_refused_connection_is_retried_then_reported(dead_url: str, ct: LiveCT) -> None:
    started = time.monotonic()
    with ct.producer(dead_url, max_attempts=2, backoff=FAST) as producer:
        with pytest.raises(DeliveryError, match="ConnectError") as caught:
            producer.heartbeat("backend")
    assert caught.value.attempts == 2
    assert time.monotonic() - started >= FAST.initial / 2
