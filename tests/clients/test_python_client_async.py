"""`AsyncProducer`: the same answers, retries and spool as `Producer`, awaited; and producers
sharing one spool from several threads or tasks deliver each event once."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from ct_producer import AsyncProducer, ConflictError, DeliveryError, Event

from tests.clients.conftest import FAST, LiveCT
from tests.clients.proxy import DROP, Answer, ScriptedProxy


def producer_for(ct: LiveCT, url: str | None = None, **options: Any) -> AsyncProducer:
    return AsyncProducer(
        url or ct.url,
        ct.token,
        ct.secret,
        source="backend",
        backoff=FAST,
        **options,
    )


def test_send_duplicate_and_conflict(ct: LiveCT) -> None:
    async def scenario() -> None:
        async with producer_for(ct) as producer:
            first = await producer.heartbeat("backend", version="a")
            assert (first.status_code, first.duplicate) == (202, False)
            stored = ct.event(first.event_id)
            assert stored is not None
            again = await producer.send(
                "system.heartbeat",
                {"system_id": "backend", "version": "a"},
                event_id=first.event_id,
                occurred_at=stored["occurred_at"],
            )
            assert (again.status_code, again.duplicate) == (200, True)
            with pytest.raises(ConflictError):
                await producer.send(
                    "system.heartbeat", {"system_id": "backend"}, event_id=first.event_id
                )

    asyncio.run(scenario())


def test_batches_and_retries_with_the_same_body(ct: LiveCT, proxy: ScriptedProxy) -> None:
    proxy.script = [Answer(503), DROP, Answer(429, {"Retry-After": "1"})]

    async def scenario() -> None:
        async with producer_for(ct, proxy.url) as producer:
            result = await producer.send_batch(
                [Event("system.heartbeat", {"system_id": "backend"}) for _ in range(3)]
            )
        assert [r.status_code for r in result] == [202, 202, 202]
        assert result[0].attempts == 4

    asyncio.run(scenario())
    assert len({s.body for s in proxy.seen}) == 1
    assert proxy.seen[3].at - proxy.seen[2].at >= 0.9, "Retry-After: 1 was waited for"


def test_a_delivery_error_names_the_events(ct: LiveCT, dead_url: str) -> None:
    async def scenario() -> None:
        async with producer_for(ct, dead_url, max_attempts=2) as producer:
            with pytest.raises(DeliveryError) as caught:
                await producer.heartbeat("backend")
        assert caught.value.attempts == 2
        assert [e.event_id for e in caught.value.events] == list(caught.value.event_ids)

    asyncio.run(scenario())


def test_the_async_spool_waits_for_ct_and_delivers_in_order(
    ct: LiveCT, proxy: ScriptedProxy, tmp_path: Path
) -> None:
    correlation = f"async-{uuid.uuid4().hex[:10]}"
    proxy.otherwise = Answer(503)

    async def scenario() -> list[str]:
        async with producer_for(ct, proxy.url, spool_dir=tmp_path, max_attempts=1) as producer:
            sent = []
            for _ in range(3):
                result = await producer.send(
                    "system.heartbeat", {"system_id": "backend"}, correlation_id=correlation
                )
                assert result.spooled
                sent.append(result.event_id)
            proxy.otherwise = "forward"
            proxy.seen.clear()
            report = await producer.flush()
            assert (report.delivered, report.remaining) == (3, 0)
            return sent

    sent = asyncio.run(scenario())
    assert [e["event_id"] for e in json.loads(proxy.seen[0].body)["events"]] == sent
    assert sorted(e["event_id"] for e in ct.stored(correlation_id=correlation)) == sorted(sent)


def test_threads_and_tasks_sharing_a_spool_deliver_each_event_once(
    ct: LiveCT, tmp_path: Path
) -> None:
    correlation = f"shared-{uuid.uuid4().hex[:10]}"
    sent: list[str] = []
    lock = threading.Lock()

    def thread_sender() -> None:
        with ct.producer(spool_dir=tmp_path) as producer:
            for _ in range(8):
                result = producer.send(
                    "system.heartbeat", {"system_id": "backend"}, correlation_id=correlation
                )
                assert result.delivered
                with lock:
                    sent.append(result.event_id)

    async def task_sender() -> None:
        async with producer_for(ct, spool_dir=tmp_path) as producer:
            for _ in range(8):
                result = await producer.send(
                    "system.heartbeat", {"system_id": "backend"}, correlation_id=correlation
                )
                assert result.delivered
                with lock:
                    sent.append(result.event_id)

    async def tasks() -> None:
        await asyncio.gather(task_sender(), task_sender())

    threads = [threading.Thread(target=thread_sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    asyncio.run(tasks())
    for thread in threads:
        thread.join(timeout=120)
    assert len(sent) == 32
    stored = [e["event_id"] for e in ct.stored(correlation_id=correlation)]
    assert sorted(stored) == sorted(sent), "nothing missing, nothing doubled"
    assert list(tmp_path.glob("*.json")) == []
