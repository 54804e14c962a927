"""Rate limits: per token (default 60/min, burst 120), per address without a valid token.

On PostgreSQL the budget lives in the store and is shared by every app instance; on SQLite it
is per process (the SQLite deployment is one process), which the last test pins down.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.app import create_app
from control_tower.auth.rate_limit import Limit, RateLimiter
from control_tower.auth.roles import Role
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.conftest import issue_token
from tests.helpers import Producer, assert_error, make_event, store_counts


def check_429(response: object) -> None:
    error = assert_error(response, 429, "rate_limited")
    assert error["message"]
    headers = response.headers  # type: ignore[attr-defined]
    assert int(headers["Retry-After"]) >= 1
    assert headers["RateLimit-Remaining"] == "0"
    assert int(headers["RateLimit-Reset"]) >= 1
    assert "RateLimit-Limit" in headers


def test_default_limit_is_burst_120_then_429(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    viewer = issue_token(engine, "busy-viewer", Role.viewer, now=clock.now())
    headers = {"Authorization": f"Bearer {viewer.token}"}
    started = time.monotonic()
    first = client.get("/metrics", headers=headers)
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == "120"
    assert first.headers["RateLimit-Remaining"] == "119"
    assert "Retry-After" not in first.headers
    allowed = 1
    while True:
        response = client.get("/metrics", headers=headers)
        if response.status_code == 429:
            break
        assert response.status_code == 200
        allowed += 1
        assert allowed <= 200, "no 429 after 200 rapid requests"
    elapsed = time.monotonic() - started
    # 120 is the burst; the budget refills one request per second while the loop runs.
    assert 120 <= allowed <= 120 + math.ceil(elapsed)
    check_429(response)
    assert response.headers["RateLimit-Limit"] == "120"
    assert int(response.headers["Retry-After"]) <= 1


def test_a_per_token_limit_applies(client: TestClient, engine: Engine, clock: FrozenClock) -> None:
    slow = issue_token(engine, "slow", Role.maintainer, now=clock.now(), rate_per_minute=6, burst=3)
    other = issue_token(engine, "other", Role.maintainer, now=clock.now())
    headers = {"Authorization": f"Bearer {slow.token}"}
    remaining = [client.get("/events", headers=headers).headers["RateLimit-Remaining"]]
    remaining += [client.get("/events", headers=headers).headers["RateLimit-Remaining"]]
    remaining += [client.get("/events", headers=headers).headers["RateLimit-Remaining"]]
    assert remaining == ["2", "1", "0"]
    refused = client.get("/events", headers=headers)
    check_429(refused)
    assert refused.headers["RateLimit-Limit"] == "3"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10  # one request per 10 s
    # Another token's budget is its own.
    ok = client.get("/events", headers={"Authorization": f"Bearer {other.token}"})
    assert ok.status_code == 200


def test_the_rate_limit_comes_before_the_signature(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    producer = Producer(
        issue_token(
            engine, "tight", Role.producer, "backend", now=clock.now(), rate_per_minute=1, burst=2
        )
    )
    before = store_counts(engine)
    body, headers = producer.signed(make_event())
    bad = {**headers, "X-CT-Signature": "sha256=" + "0" * 64}
    assert client.post("/events", content=body, headers=bad).status_code == 401
    assert client.post("/events", content=body, headers=bad).status_code == 401
    # Badly signed requests spent the budget: the well-signed one is now refused.
    check_429(client.post("/events", content=body, headers=headers))
    assert store_counts(engine) == before


@pytest.fixture
def strict_client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"anonymous_rate_limit_per_minute": 5}), clock=clock
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_strangers_are_limited_per_address_before_any_signature_work(
    strict_client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body, headers = producer.signed(make_event())
    stranger = {**headers, "Authorization": "Bearer ct_guessed-token"}
    for _ in range(5):
        assert_error(strict_client.post("/events", content=body, headers=stranger), 401)
    refused = strict_client.post("/events", content=body, headers=stranger)
    check_429(refused)
    assert refused.headers["RateLimit-Limit"] == "5"
    assert "unauthenticated" in refused.json()["error"]["message"]
    # No token at all is limited by the same address budget.
    check_429(strict_client.get("/events"))
    assert store_counts(engine) == before
    # A stranger never spends a producer's budget: the producer on the same address still gets in.
    accepted = strict_client.post("/events", content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text


def two_apps(settings: Settings, clock: FrozenClock) -> tuple[TestClient, TestClient]:
    return (
        TestClient(create_app(settings, clock=clock), raise_server_exceptions=False),
        TestClient(create_app(settings, clock=clock), raise_server_exceptions=False),
    )


def test_each_app_instance_has_its_own_budget(
    settings: Settings, engine: Engine, clock: FrozenClock
) -> None:
    """Limits are per replica (docs/operations.md), on both stores."""
    token = issue_token(
        engine, "shared", Role.maintainer, now=clock.now(), rate_per_minute=1, burst=2
    )
    headers = {"Authorization": f"Bearer {token.token}"}
    first, second = two_apps(settings, clock)
    with first, second:
        assert [first.get("/events", headers=headers).status_code for _ in range(2)] == [200, 200]
        check_429(first.get("/events", headers=headers))
        # The other replica's budget is untouched.
        assert [second.get("/events", headers=headers).status_code for _ in range(2)] == [200, 200]
        check_429(second.get("/events", headers=headers))


def test_keys_whose_bucket_is_full_again_are_forgotten() -> None:
    limiter = RateLimiter(forget_idle_above=3)
    limit = Limit(per_minute=60, burst=5)
    for n in range(3):
        assert limiter.hit(f"addr:10.0.0.{n}", limit, now=1000.0).allowed
    assert len(limiter) == 3
    # Much later, a fourth key arrives: the three idle ones are forgotten, not kept for ever.
    assert limiter.hit("addr:10.0.0.9", limit, now=5000.0).allowed
    assert len(limiter) == 1
    # A busy key is kept: its budget is still spent.
    busy = RateLimiter(forget_idle_above=1)
    assert [busy.hit("token:busy", Limit(60, 2), now=1.0).allowed for _ in range(3)] == [
        True, True, False,
    ]  # fmt: skip
    assert busy.hit("token:other", Limit(60, 2), now=1.0).allowed
    assert not busy.hit("token:busy", Limit(60, 2), now=1.0).allowed


def test_a_429_body_is_json(client: TestClient, engine: Engine, clock: FrozenClock) -> None:
    token = issue_token(engine, "once", Role.viewer, now=clock.now(), rate_per_minute=1, burst=1)
    headers = {"Authorization": f"Bearer {token.token}"}
    assert client.get("/metrics", headers=headers).status_code == 200
    refused = client.get("/metrics", headers=headers)
    check_429(refused)
    assert refused.headers["content-type"] == "application/json"
    assert json.loads(refused.content)["error"]["code"] == "rate_limited"
