"""The Python producer client's pieces, without a server: signing (against the shared
vector), ids, backoff, Retry-After, batching limits, the spool's files and stack references."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import ct_producer
import pytest
from ct_producer import Backoff, Event, Producer, new_ulid, sign, stack_ref
from ct_producer._events import Envelope, envelope
from ct_producer._protocol import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, chunks
from ct_producer._retry import parse_retry_after
from ct_producer._spool import Spool

from tests.clients.test_signing_vector import load as load_vector

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_the_client_signs_the_shared_vector() -> None:
    for case in load_vector()["cases"]:
        body = case["body"].encode("utf-8")
        assert sign(case["secret"], body, case.get("timestamp")) == case["signature"], case["name"]


def test_the_public_surface_is_the_package_and_internals_are_private() -> None:
    package = Path(ct_producer.__file__).parent
    assert all(hasattr(ct_producer, name) for name in ct_producer.__all__)
    modules = {p.name for p in package.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert all(name.startswith("_") for name in modules)
    assert (package / "py.typed").exists()


def test_ulids_are_valid_unique_and_sorted_by_creation() -> None:
    ids = [new_ulid() for _ in range(2000)]
    assert all(ULID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids), "monotonic within a process, even within one millisecond"


def test_an_envelope_is_compact_utf8_json_with_its_defaults_filled_in() -> None:
    sent = envelope(Event("backend.fn.error", {"note": "café"}, correlation_id="run-1"), "backend")
    document = json.loads(sent.body)
    assert ULID.match(sent.event_id)
    assert document["event_id"] == sent.event_id
    assert "café".encode() in sent.body, "UTF-8, not \\u escapes"
    assert b": " not in sent.body
    assert document["occurred_at"].endswith("Z")
    assert document["source"] == "backend"
    assert document["correlation_id"] == "run-1"
    # The filled-in event sent again is the same bytes: a duplicate for CT, never a conflict.
    assert envelope(sent.event, "backend").body == sent.body


def test_occurred_at_must_carry_an_offset_and_is_sent_in_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        envelope(Event("system.heartbeat", occurred_at=datetime(2026, 1, 1)), "backend")
    paris = datetime(2026, 6, 1, 14, 0, tzinfo=UTC).astimezone()
    document = json.loads(envelope(Event("x.y", occurred_at=paris), "s").body)
    assert document["occurred_at"] == "2026-06-01T14:00:00Z"


def test_a_producer_without_a_source_can_only_flush(tmp_path: Path) -> None:
    with Producer("http://127.0.0.1:9", "t", "s", spool_dir=tmp_path) as producer:
        assert producer.flush().remaining == 0
        with pytest.raises(ValueError, match="source"):
            producer.send("system.heartbeat", {"system_id": "backend"})


def test_a_producer_never_shows_its_credentials() -> None:
    with Producer("http://127.0.0.1:9", "ct_TOKEN", "whsec_SECRET", source="backend") as producer:
        assert "TOKEN" not in repr(producer)
        assert "SECRET" not in repr(producer)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=1.0, multiplier=2.0, maximum=5.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        waits = [backoff.delay(attempt, None) or -1.0 for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1, "jittered"


def test_retry_after_is_honoured_and_one_too_long_ends_the_attempts() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0)
    waits = [backoff.delay(1, 7.0) or -1.0 for _ in range(20)]
    assert all(7.0 <= w <= 7.5 for w in waits)
    assert backoff.delay(1, 31.0) is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=20), usegmt=True), now) == 20
    assert parse_retry_after(format_datetime(now - timedelta(seconds=20), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-1") is None


def test_batches_are_cut_to_what_ct_accepts() -> None:
    small = [Envelope(str(i), b"{}", Event("x.y")) for i in range(MAX_BATCH_EVENTS * 2 + 1)]
    assert [len(c) for c in chunks(small)] == [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 1]
    big = [Envelope(str(i), b"x" * (MAX_BATCH_BYTES // 3), Event("x.y")) for i in range(7)]
    assert [len(c) for c in chunks(big)] == [2, 2, 2, 1]
    huge = [Envelope("1", b"x" * (MAX_BATCH_BYTES + 1), Event("x.y"))]
    assert [len(c) for c in chunks(huge)] == [1]


def _envelopes(count: int) -> list[Envelope]:
    event = Event("system.heartbeat", {"system_id": "backend"})
    return [envelope(event, "backend") for _ in range(count)]


def test_the_spool_keeps_order_in_private_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    first = spool.put(_envelopes(3))
    second = spool.put(_envelopes(2))
    assert spool.pending() == first + second
    entries = spool.oldest(limit=4, max_bytes=10**6)
    assert [e.name for e in entries] == (first + second)[:4]
    assert all(e.body.startswith(b'{"event_id":') for e in entries)
    assert all((spool.directory / n).stat().st_mode & 0o777 == 0o600 for n in first)
    assert not [p for p in spool.directory.iterdir() if p.name.startswith(".tmp-")]


def test_a_rejected_event_keeps_its_reason_and_a_stray_file_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    [name] = spool.put(_envelopes(1))
    spool.reject(name, {"status": 409, "code": "event_id_conflict", "message": "…"})
    assert spool.pending() == []
    assert (spool.rejection(name) or {}).get("code") == "event_id_conflict"
    stray = "00000000000000000001-1.json"
    (tmp_path / stray).write_text("not json")
    assert spool.oldest(10, 10**6) == []
    assert (spool.rejection(stray) or {}).get("code") == "unreadable_spool_file"


def test_half_written_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f".tmp-{child.stdout.strip()}-x.json"
    mine = tmp_path / f".tmp-{os.getpid()}-y.json"
    stale.write_bytes(b"{")
    mine.write_bytes(b"{")
    spool.sweep_temporary_files()
    assert not stale.exists()
    assert mine.exists()


def _fail(kind: type[Exception]) -> None:
    raise kind("customer bob@example.com, card 4111 1111 1111 1111")


def _ref_of(kind: type[Exception]) -> str:
    try:
        _fail(kind)
    except Exception as error:
        return stack_ref(error)
    raise AssertionError("unreachable")


def test_a_stack_ref_names_the_failure_not_its_message() -> None:
    first, again = _ref_of(ValueError), _ref_of(ValueError)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert first == again, "the same failure has the same reference"
    assert _ref_of(KeyError) != first, "another exception type, another reference"
