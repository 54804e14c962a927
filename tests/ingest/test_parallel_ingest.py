"""The same event on many parallel connections to a real server: one row, one 202, no 500.

On PostgreSQL the server runs two worker processes, so two processes race for the same id.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from control_tower.events.schemas import EventIn
from control_tower.ingest.preparation import normalised
from control_tower.kit.canonical import content_hash
from control_tower.models import events
from tests.helpers import Producer, make_event
from tests.servers import CTServer, producer_from_cli, run_server

CONNECTIONS = 20


def send_all_at_once(server: CTServer, requests: list[tuple[bytes, dict[str, str]]]) -> list[int]:
    """Each request on its own connection, released together by a barrier; the statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = [0] * len(requests)
    bodies: list[dict[str, object]] = [{}] * len(requests)

    def send(index: int) -> None:
        body, headers = requests[index]
        with server.client() as http:
            http.get("/healthz")  # open the connection before the race starts
            barrier.wait(timeout=30)
            answer = http.post("/events", content=body, headers=headers)
            statuses[index] = answer.status_code
            bodies[index] = answer.json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for status, body in zip(statuses, bodies, strict=True):
        if status == 200:
            assert body["duplicate"] is True
    return statuses


def rows_for(engine: Engine, event_id: str) -> list[str]:
    with engine.connect() as conn:
        query = select(events.c.payload_sha256).where(events.c.event_id == event_id)
        return list(conn.execute(query).scalars())


@pytest.fixture
def workers(backend: str) -> int:
    # SQLite is one process by design; PostgreSQL lets two processes race.
    return 2 if backend == "postgresql" else 1


def race_producer(env: dict[str, str]) -> Producer:
    return producer_from_cli(env, "race-backend", "backend", "--burst", "1000")


def test_same_event_on_parallel_connections_is_stored_once(
    server_env: dict[str, str], tmp_path: Path, engine: Engine, workers: int
) -> None:
    producer = race_producer(server_env)
    body, headers = producer.signed(make_event(event_id="race-1"))
    with run_server(server_env, tmp_path / "logs", workers=workers) as server:
        statuses = send_all_at_once(server, [(body, headers)] * CONNECTIONS)
    assert Counter(statuses) == {202: 1, 200: CONNECTIONS - 1}, statuses
    assert len(rows_for(engine, "race-1")) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 1


def test_conflicting_bodies_in_the_race_get_409_never_500(
    server_env: dict[str, str], tmp_path: Path, engine: Engine, workers: int
) -> None:
    producer = race_producer(server_env)
    original = make_event(event_id="race-2")
    changed = dict(original, payload={"fn_name": "otherFn", "severity": "low"})
    requests = [producer.signed(changed if i % 4 == 0 else original) for i in range(CONNECTIONS)]
    with run_server(server_env, tmp_path / "logs", workers=workers) as server:
        statuses = send_all_at_once(server, requests)

    [stored_hash] = rows_for(engine, "race-2")
    winner = original if stored_hash == digest(original) else changed
    assert stored_hash == digest(winner)
    assert statuses.count(202) == 1, statuses
    winner_body = producer.signed(winner)[0]
    for (body, _), status in zip(requests, statuses, strict=True):
        expected = (202, 200) if body == winner_body else (409,)
        assert status in expected, (status, statuses)


def digest(event: dict[str, object]) -> str:
    validated = EventIn.model_validate(event)
    return content_hash(normalised(validated, validated.occurred_at.astimezone(UTC)))
