"""The spool: an event is on disk before `send` returns, survives a `kill -9`, and is
delivered later, oldest first, exactly once (compared with what CT stored)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ct_producer import AuthenticationError, ConflictError, Event, Producer

from tests.clients.conftest import LiveCT, start_live_ct
from tests.clients.proxy import Answer, ScriptedProxy

# Sends COUNT events through a spool to a URL where nothing listens (so they stay spooled),
# printing each id as soon as `send` returns, then waits to be killed.
CHILD = textwrap.dedent(
    """
    import sys, time
    from ct_producer import Producer

    spool, url, token, secret, correlation, count = sys.argv[1:]
    producer = Producer(url, token, secret, source="backend", spool_dir=spool, max_attempts=1)
    for number in range(int(count)):
        result = producer.send(
            "system.heartbeat", {"system_id": "backend", "version": str(number)},
            correlation_id=correlation,
        )
        assert result.spooled, result
        print(result.event_id, flush=True)
    time.sleep(600)
    """
)


def correlation_id() -> str:
    return f"spool-{uuid.uuid4().hex[:12]}"


def delivered_ids(proxy: ScriptedProxy) -> list[str]:
    """Event ids in the order the proxy received them (single events and batches)."""
    ids = []
    for seen in proxy.seen:
        document = json.loads(seen.body)
        ids += [e["event_id"] for e in document.get("events", [document])]
    return ids


def spooled_ids(spool: Path) -> list[str]:
    files = sorted(p for p in spool.glob("*.json"))
    return [json.loads(p.read_bytes())["event_id"] for p in files]


@pytest.fixture
def ct_on_each_backend(server_env: dict[str, str], tmp_path: Path) -> Iterator[LiveCT]:
    yield from start_live_ct(server_env, tmp_path / "logs")


def test_a_killed_producer_leaves_its_events_spooled_and_they_arrive_once_in_order(
    ct_on_each_backend: LiveCT, tmp_path: Path, dead_url: str
) -> None:
    ct, spool, correlation, count = ct_on_each_backend, tmp_path / "spool", correlation_id(), 5
    arguments = [str(spool), dead_url, ct.token, ct.secret, correlation, str(count)]
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, *arguments], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        sent = [child.stdout.readline().strip() for _ in range(count)]
        os.kill(child.pid, signal.SIGKILL)  # right after the last `send` returned
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert spooled_ids(spool) == sent, "every event on disk, in the order sent"

    # A crash after CT acknowledged an event but before its file was removed: sent again.
    replayed = sorted(spool.glob("*.json"))[1]
    kept = replayed.read_bytes()
    with ScriptedProxy(ct.url).running() as proxy, ct.producer(proxy.url, spool_dir=spool) as p:
        report = p.flush()
        assert (report.delivered, report.rejected, report.remaining) == (count, 0, 0)
        assert delivered_ids(proxy) == sent, "oldest first"
        replayed.write_bytes(kept)
        assert p.flush().delivered == 1
    stored = [e["event_id"] for e in ct.stored(correlation_id=correlation)]
    assert sorted(stored) == sorted(sent), "nothing missing, nothing doubled"
    assert list(spool.glob("*.json")) == []


def test_send_delivers_at_once_when_ct_answers(ct: LiveCT, tmp_path: Path) -> None:
    with ct.producer(spool_dir=tmp_path) as producer:
        result = producer.heartbeat("backend")
    assert (result.status_code, result.spooled, result.delivered) == (202, False, True)
    assert list(tmp_path.glob("*.json")) == []


def test_events_wait_while_ct_is_down_and_a_later_send_delivers_them_first(
    ct: LiveCT, proxy: ScriptedProxy, tmp_path: Path
) -> None:
    correlation = correlation_id()
    proxy.otherwise = Answer(503)
    with ct.producer(proxy.url, spool_dir=tmp_path, max_attempts=2) as producer:
        waiting = [
            producer.send("system.heartbeat", {"system_id": "backend"}, correlation_id=correlation)
            for _ in range(3)
        ]
        assert all(r.spooled and r.status_code is None for r in waiting)
        assert spooled_ids(tmp_path) == [r.event_id for r in waiting]
        proxy.otherwise = "forward"
        proxy.seen.clear()
        latest = producer.send(
            "system.heartbeat", {"system_id": "backend"}, correlation_id=correlation
        )
    assert latest.status_code == 202
    assert delivered_ids(proxy) == [r.event_id for r in [*waiting, latest]]
    assert len(ct.stored(correlation_id=correlation)) == 4
    assert spooled_ids(tmp_path) == []


def test_a_batch_through_the_spool(ct: LiveCT, proxy: ScriptedProxy, tmp_path: Path) -> None:
    correlation = correlation_id()
    events = [
        Event("system.heartbeat", {"system_id": "backend"}, correlation_id=correlation),
        Event("no.such.type", {}, correlation_id=correlation),
    ]
    with ct.producer(proxy.url, spool_dir=tmp_path) as producer:
        result = producer.send_batch(events)
    assert [r.status_code for r in result] == [202, 422]
    assert len(proxy.seen) == 1, "one request for the whole spool"
    assert spooled_ids(tmp_path) == []
    assert [p.name for p in (tmp_path / "rejected").glob("*.json")] != []


def test_a_conflict_moves_the_event_to_rejected_with_the_reason(ct: LiveCT, tmp_path: Path) -> None:
    with ct.producer(spool_dir=tmp_path) as producer:
        first = producer.heartbeat("backend", version="1")
        with pytest.raises(ConflictError):
            producer.send(
                "system.heartbeat",
                {"system_id": "backend", "version": "2"},
                event_id=first.event_id,
            )
    [rejected] = (tmp_path / "rejected").glob("*.json")
    record = json.loads(rejected.read_bytes())
    assert record["event_id"] == first.event_id
    assert record["rejected"]["status"] == 409
    assert record["rejected"]["code"] == "event_id_conflict"
    assert json.loads(record["body"])["payload"]["version"] == "2", "the event itself is kept"
    assert spooled_ids(tmp_path) == []


def test_refused_credentials_leave_the_spool_alone(ct: LiveCT, tmp_path: Path) -> None:
    with Producer(
        ct.url, ct.token, "whsec_wrong", source="backend", spool_dir=tmp_path
    ) as producer:
        with pytest.raises(AuthenticationError):
            producer.heartbeat("backend")
    assert len(spooled_ids(tmp_path)) == 1
    with ct.producer(spool_dir=tmp_path) as producer:
        assert producer.flush().delivered == 1


def test_ct_producer_flush_delivers_a_spool(ct: LiveCT, tmp_path: Path, dead_url: str) -> None:
    with ct.producer(dead_url, spool_dir=tmp_path, max_attempts=1) as producer:
        ids = [producer.heartbeat("backend").event_id for _ in range(3)]
    command = Path(sys.executable).with_name("ct-producer")
    env = {**os.environ, "CT_SECRET": ct.secret}
    flush = [str(command), "flush", "--spool", str(tmp_path), "--url", ct.url, "--token", ct.token]
    unreachable = subprocess.run(
        [*flush[:-4], "--url", dead_url, "--token", ct.token, "--max-attempts", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unreachable.returncode == 1, "events remain"
    assert json.loads(unreachable.stdout)["remaining"] == 3
    done = subprocess.run(flush, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"delivered": 3, "rejected": 0, "remaining": 0}
    assert all(ct.event(i) is not None for i in ids)


def test_ct_producer_send(ct: LiveCT, tmp_path: Path) -> None:
    env = {**os.environ, "CT_URL": ct.url, "CT_TOKEN": ct.token, "CT_SECRET": ct.secret}
    payload = json.dumps({"system_id": "backend", "version": "cli"})
    command = [sys.executable, "-m", "ct_producer", "send", "--type", "system.heartbeat"]
    command += ["--source", "backend", "--payload", payload, "--spool", str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["status_code"], answer["spooled"]) == (202, False)
    stored = ct.event(answer["event_id"])
    assert stored is not None
    assert stored["payload"]["version"] == "cli"
    missing = subprocess.run(
        [sys.executable, "-m", "ct_producer", "flush", "--spool", str(tmp_path)],
        env={k: v for k, v in env.items() if k != "CT_TOKEN"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "--token" in missing.stderr
    assert shutil.which("ct-producer", path=str(Path(sys.executable).parent))
