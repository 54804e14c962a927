"""An acknowledged event survives a `kill -9` of CT: a 2xx is only sent after the commit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine, select

from control_tower.models import events
from tests.helpers import Producer, make_event
from tests.servers import CTServer, bearer, create_token, producer_from_cli, run_server

POSTERS = 4
PER_POSTER = 500  # bound on each poster; the kill comes long before
KILL_AFTER_ACKS = 150
DEADLINE_SECONDS = 30.0


def post_until_stopped(
    server: CTServer, producer: Producer, worker: int, acked: list[str], lock: threading.Lock
) -> None:
    with server.client() as http:
        for i in range(PER_POSTER):
            event_id = f"durable-{worker}-{i}"
            body, headers = producer.signed(make_event(event_id=event_id))
            try:
                answer = http.post("/events", content=body, headers=headers)
            except httpx.TransportError:
                return  # the server died under us: this one was never acknowledged
            if answer.status_code == 202:
                with lock:
                    acked.append(event_id)


def stored_ids(engine: Engine, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = select(events.c.event_id).where(events.c.event_id.in_(chunk))
            found.update(conn.execute(query).scalars())
    return found


def listed_ids(server: CTServer, maintainer: dict[str, str]) -> set[str]:
    seen: set[str] = set()
    cursor = None
    with server.client() as http:
        for _ in range(100):
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = http.get("/events", params=params, headers=bearer(maintainer))
            assert page.status_code == 200, page.text
            seen.update(item["event_id"] for item in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    return seen


def test_acknowledged_events_survive_kill_9(
    server_env: dict[str, str], tmp_path: Path, engine: Engine
) -> None:
    producer = producer_from_cli(
        server_env,
        "durable-backend",
        "backend",
        "--rate-per-minute",
        "1000000",
        "--burst",
        "1000000",
    )
    maintainer = create_token(server_env, "durable-maintainer", "maintainer")
    acked: list[str] = []
    lock = threading.Lock()
    with run_server(server_env, tmp_path / "logs") as server:
        posters = [
            threading.Thread(target=post_until_stopped, args=(server, producer, n, acked, lock))
            for n in range(POSTERS)
        ]
        for thread in posters:
            thread.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # kill -9 while the posters are still sending
        for thread in posters:
            thread.join(timeout=DEADLINE_SECONDS)
        assert not server.alive()

    assert len(acked) >= KILL_AFTER_ACKS
    missing = set(acked) - stored_ids(engine, acked)
    assert not missing, f"{len(missing)} acknowledged events lost: {sorted(missing)[:5]}"

    with run_server(server_env, tmp_path / "logs-after") as again:
        assert set(acked) <= listed_ids(again, maintainer)
