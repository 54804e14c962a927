"""Signed fuzzing of `POST /events` and `POST /events/batch`, on both stores.

Schemathesis cannot sign a body (tests/api/test_schemathesis.py leaves these out), so bodies
and headers are drawn here: valid events, events with a field mutated, dropped or of the wrong
type, huge and odd strings, nested junk, bytes that are not JSON; signatures valid, missing,
forged or over another body; timestamps of every shape. Each request is signed with a real
producer's secret unless the draw says otherwise. Whatever arrives, CT never answers a 5xx,
every 4xx carries the JSON error body, and every event it says it took can be read back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import Engine

from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.kit.common import IDENTIFIER_PATTERN
from control_tower.kit.signing import sign
from control_tower.settings import Settings
from tests.conftest import issue_token
from tests.helpers import Producer, Staff, assert_error, iso

MAX_EXAMPLES = 150
UNLIMITED = 1_000_000  # the fuzz must not meet its own rate limit
FUZZ = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same requests on every run
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    print_blob=False,
    # The app, its store and the tokens are shared by the examples on purpose: later requests
    # meet what earlier ones stored (duplicates, reused ids).
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# Event types the `backend` producer may send whose payload is any object.
OPEN_TYPES = ["backend.parsed", "backend.transform.applied", "artifact.pointer.written"]
ODD_TIMES = [
    "", "now", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00",
    "2026-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "1764150000", "2026-01-01T25:00:00Z", "2026-01-01T00:00:00+24:00", "２０２６-01-01T00:00:00Z",
]  # fmt: skip
ODD_TIMESTAMPS = [
    "", " ", "0", "-1", "+1", "1.5", "1e9", "0x10", "abc", "١٢٣", "１２３", "9" * 13, "9" * 400,
    "1_764_150_000", "00000000000001",
]  # fmt: skip
WRONG_SIGNING = [
    "odd timestamp", "stale timestamp", "missing", "forged", "other body", "padded", "upper case",
    "no token", "unknown token",
]  # fmt: skip
ODD_CONTENT_TYPES = ["application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "", None]
RAW_BODIES = [
    b"", b" ", b"null", b"true", b"0", b'""', b"[]", b"{}", b'{"x": NaN}', b"1e400",
    b'{"a": Infinity}', b"\xef\xbb\xbf{}", b'"\\ud800"', b'{"events": null}', b'{"events": {}}',
    b'{"a":1,"a":2}', b"{'a': 1}", b'{"a": 1', b"\xff\xfe\x00", b'{"\\u0000": 1}',
]  # fmt: skip

identifiers = st.from_regex(IDENTIFIER_PATTERN, fullmatch=True)
# Mostly fresh ids (a drawn id and a number), sometimes a short one drawn again and again,
# which then meets the duplicate and the conflict paths.
event_ids = st.one_of(
    st.builds(lambda head, n: f"{head[:100]}-{n}", identifiers, st.integers(0, 2**40)),
    st.builds(lambda head, n: f"{head[:100]}-{n}", identifiers, st.integers(0, 2**40)),
    identifiers,
)
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Co", "Cc", "Zs", "Mn"]), max_size=20),
    st.builds(
        lambda unit, count: unit * count,
        st.sampled_from(["a", "é", "\x00", "😀", "\\", '"', "\u202e"]),
        st.integers(1_000, 300_000),  # over the 256 KiB event limit at the top
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 1),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
    st.sampled_from(ODD_TIMES),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

# What a valid payload holds: any JSON, but text CT stores (no U+0000, no lone surrogate).
clean_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
clean = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(-1e300, 1e300)
    | clean_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(clean_text, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def occurred_ats(now: datetime) -> st.SearchStrategy[str]:
    """Valid `occurred_at` values of every shape: Z or an offset, with or without fractions."""

    def shape(ago: int, micros: int, minutes: int, zulu: bool) -> str:
        instant = now - timedelta(seconds=ago, microseconds=micros)
        if zulu:
            return iso(instant)
        return instant.astimezone(timezone(timedelta(minutes=minutes))).isoformat()

    return st.builds(
        shape,
        st.integers(0, 7 * 86_400),
        st.integers(0, 999_999),
        st.integers(-14 * 60, 14 * 60),
        st.booleans(),
    )


def valid_events(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    def build(
        event_id: str, kind: str, at: str, payload: Any, correlation: str | None, alias: bool
    ) -> dict[str, Any]:
        event = {"event_id": event_id, "type": kind, "occurred_at": at, "source": "backend"}
        if kind == "backend.fn.error":
            payload = {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "logs/1"}
        event["payload"] = payload
        if correlation is not None:
            event["correlation_id"] = correlation
        if alias:  # the documented camelCase aliases
            event["eventId"] = event.pop("event_id")
            event["ts"] = event.pop("occurred_at")
        return event

    return st.builds(
        build,
        event_ids,
        st.sampled_from([*OPEN_TYPES, "backend.fn.error"]),
        occurred_ats(now),
        st.dictionaries(clean_text, clean, max_size=5),
        st.none() | identifiers,
        st.booleans(),
    )


def mutated_events(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    """A valid event with one field dropped, replaced by junk, or one added."""

    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        event = draw(valid_events(now))
        field = draw(st.sampled_from([*event, "extra", "eventId", "ts", "source"]))
        if draw(st.booleans()):
            event.pop(field, None)
        else:
            event[field] = draw(junk)
        return event

    return mutate()


def event_values(now: datetime) -> st.SearchStrategy[Any]:
    # Valid events weigh most: the deeper paths (validation, storage, reading) need them.
    return st.one_of(valid_events(now), valid_events(now), mutated_events(now), junk)


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bytes that are not (all) JSON, or JSON that nests, overflows or repeats."""
    return st.one_of(
        st.sampled_from(RAW_BODIES),
        st.binary(max_size=200),
        st.integers(60, 400).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(60, 400).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
        st.integers(4_000, 6_000).map(lambda n: b'{"payload": {"n": 1' + b"0" * n + b"}}"),
    )


def encoded(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def event_bodies(now: datetime) -> st.SearchStrategy[bytes]:
    json_bodies = st.builds(encoded, event_values(now), st.booleans())
    return st.one_of(json_bodies, json_bodies, raw_bodies())


def batch_bodies(now: datetime) -> st.SearchStrategy[bytes]:
    batches = st.one_of(
        st.builds(lambda events: {"events": events}, st.lists(event_values(now), max_size=8)),
        st.builds(lambda value: {"events": value}, junk),
        st.builds(lambda events: {"events": events}, st.lists(valid_events(now), max_size=3)),
    )
    return st.one_of(st.builds(encoded, batches, st.booleans()), raw_bodies())


@st.composite
def signed_headers(
    draw: st.DrawFn, body: bytes, producer: Producer, now: int, tolerance: int
) -> dict[str, Any]:
    """Headers for `body`: mostly rightly signed, otherwise wrong in one of many ways."""
    headers: dict[str, Any] = {"Authorization": f"Bearer {producer.token}"}
    # One request in four is wrong in some way; the rest must get through to the body.
    wrong = draw(st.integers(0, 3)) == 0
    mode = draw(st.sampled_from(WRONG_SIGNING if wrong else ["signed", "timestamped"]))
    timestamp: str | None = None
    signature: str | None = sign(producer.secret, body)
    if mode in ("timestamped", "stale timestamp"):
        skews = [0, -tolerance + 1, tolerance - 1]
        skew = draw(st.sampled_from(skews if mode == "timestamped" else [tolerance + 1, -(10**9)]))
        timestamp = str(now + skew)
        signature = sign(producer.secret, body, timestamp)
    elif mode == "odd timestamp":
        timestamp = draw(st.sampled_from(ODD_TIMESTAMPS) | st.text(max_size=15))
        signature = sign(producer.secret, body, timestamp) if timestamp.isascii() else signature
    elif mode == "missing":
        signature = None
    elif mode == "forged":
        signature = draw(st.sampled_from(["", "sha256=", "sha256=" + "0" * 64]) | st.text())
    elif mode == "other body":
        signature = sign(producer.secret, body + b" ")
    elif mode == "padded":
        signature = f"  {signature}\t"
    elif mode == "upper case":
        signature = signature.upper()
    elif mode == "no token":
        del headers["Authorization"]
    elif mode == "unknown token":
        headers["Authorization"] = "Bearer " + draw(st.text(max_size=60))
    if signature is not None:
        headers["X-CT-Signature"] = signature
    if timestamp is not None:
        headers["X-CT-Timestamp"] = timestamp
    wrong = draw(st.integers(0, 7)) == 0
    content_type = draw(st.sampled_from(ODD_CONTENT_TYPES)) if wrong else "application/json"
    if content_type is not None:
        headers["Content-Type"] = content_type
    # Header values go out as Latin-1 bytes, as HTTP carries them; line breaks cannot.
    return {
        name: value.replace("\r", "").replace("\n", "").encode("latin-1", "replace")
        for name, value in headers.items()
    }


@pytest.fixture
def fuzz_producer(engine: Engine, clock: FrozenClock) -> Producer:
    issued = issue_token(
        engine, "fuzz-producer", Role.producer, "backend", now=clock.now(),
        rate_per_minute=UNLIMITED, burst=UNLIMITED,
    )  # fmt: skip
    return Producer(issued)


@pytest.fixture
def maintainer(engine: Engine, clock: FrozenClock) -> Staff:
    issued = issue_token(
        engine, "fuzz-maintainer", Role.maintainer, now=clock.now(),
        rate_per_minute=UNLIMITED, burst=UNLIMITED,
    )  # fmt: skip
    return Staff({Role.maintainer: issued})


def check_answer(client: TestClient, response: Any, maintainer: Staff) -> None:
    """No 5xx; the error body on every 4xx; every event taken can be read back."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)
        return
    answer = response.json()
    if "results" in answer:
        taken = [r["event_id"] for r in answer["results"] if r["status"] < 300]
        for item in answer["results"]:
            if item["status"] >= 400:
                assert set(item["error"]) == {"code", "message", "details"}, item
    else:
        taken = [answer["event_id"]]
    for event_id in taken:
        read = client.get(
            f"/events/{quote(event_id, safe='')}", headers=maintainer.headers(Role.maintainer)
        )
        assert read.status_code == 200, (event_id, read.text)
        assert read.json()["event_id"] == event_id


@FUZZ
@given(data=st.data())
def test_post_events_never_fails_and_keeps_what_it_takes(
    client: TestClient,
    fuzz_producer: Producer,
    maintainer: Staff,
    clock: FrozenClock,
    settings: Settings,
    data: st.DataObject,
) -> None:
    now = clock.now()
    body = data.draw(event_bodies(now), label="body")
    headers = data.draw(
        signed_headers(
            body, fuzz_producer, int(now.timestamp()), settings.signature_tolerance_seconds
        ),
        label="headers",
    )
    check_answer(client, client.post("/events", content=body, headers=headers), maintainer)


@FUZZ
@given(data=st.data())
def test_post_batches_never_fail_and_keep_what_they_take(
    client: TestClient,
    fuzz_producer: Producer,
    maintainer: Staff,
    clock: FrozenClock,
    settings: Settings,
    data: st.DataObject,
) -> None:
    now = clock.now()
    body = data.draw(batch_bodies(now), label="body")
    headers = data.draw(
        signed_headers(
            body, fuzz_producer, int(now.timestamp()), settings.signature_tolerance_seconds
        ),
        label="headers",
    )
    check_answer(client, client.post("/events/batch", content=body, headers=headers), maintainer)
