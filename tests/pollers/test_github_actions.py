"""The GitHub Actions poller against a real local fake of GitHub's REST API, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import GithubActionsPoller
from control_tower.kit.clock import FrozenClock
from control_tower.pollers.common import PollOutcome
from control_tower.pollers.service import run_poller
from control_tower.scheduler import slot_for
from tests.pollers.fakes import (
    GITHUB_TOKEN,
    GitHubState,
    catalog_with,
    github_poller,
    make_run,
    poller_state_row,
    stored_events,
)

ENV = {"CT_TEST_GITHUB_TOKEN": GITHUB_TOKEN}


def seed_runs(state: GitHubState) -> None:
    state.runs["swan/backend"] = [
        make_run(107, status="in_progress", conclusion=None),
        make_run(106, conclusion="cancelled"),
        make_run(105, conclusion="startup_failure", updated_at="2026-11-26T09:35:00Z"),
        make_run(104, branch="release", conclusion="timed_out", name="Release"),
        make_run(103, branch="feature-x", conclusion="failure"),
        make_run(102, conclusion="success"),
        make_run(101, conclusion="failure", updated_at="2026-11-26T09:31:00Z"),
    ]


class Poll:
    def __init__(self, engine: Engine, clock: FrozenClock, catalog: Catalog) -> None:
        self.engine = engine
        self.clock = clock
        self.catalog = catalog
        poller = catalog.pollers[0]
        assert isinstance(poller, GithubActionsPoller)
        self.poller = poller

    def __call__(self, env: dict[str, str] | None = None) -> PollOutcome:
        slot = slot_for(self.clock.now(), self.poller.interval_seconds)
        return run_poller(
            self.engine,
            self.catalog,
            self.poller,
            slot=slot,
            clock=self.clock,
            env=ENV if env is None else env,
        )


@pytest.fixture
def poll(engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]) -> Poll:
    state, url = github
    seed_runs(state)
    state.page_size = 2  # main's four completed runs come in two pages
    return Poll(engine, clock, catalog_with([github_poller(url)]))


def ci_failures(engine: Engine) -> dict[str, Any]:
    return {row.event_id: row for row in stored_events(engine, "ci.workflow.failed")}


def test_failed_runs_on_protected_branches_become_events(poll: Poll, engine: Engine) -> None:
    outcome = poll()
    assert outcome.status == "ok"
    failures = ci_failures(engine)
    assert set(failures) == {
        "gh:swan:backend:101:1",
        "gh:swan:backend:104:1",
        "gh:swan:backend:105:1",
    }
    row = failures["gh:swan:backend:101:1"]
    assert row.source == "github"
    assert row.occurred_at == datetime(2026, 11, 26, 9, 31, tzinfo=UTC)
    assert row.payload == {
        "repo": "swan/backend",
        "run_id": 101,
        "job": "CI",
        "url": "https://github.com/swan/backend/actions/runs/101",
        "branch": "main",
        "conclusion": "failure",
    }
    assert failures["gh:swan:backend:104:1"].payload["job"] == "Release"
    # A successful poll is a heartbeat of the poller's system.
    [beat] = stored_events(engine, "system.heartbeat")
    assert beat.payload == {"system_id": "ci", "poller": "github-ci"}
    assert beat.event_id == f"poll:github-ci:{int(slot_for(poll.clock.now(), 300).timestamp())}"


def test_requests_are_authenticated_filtered_and_paginated(
    poll: Poll, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    poll()
    listings = state.listing_requests()
    assert all(r.status == 200 for r in listings)
    for request in listings:
        assert request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.query["status"] == "completed"
        assert request.query["per_page"] == "100"
    main = [r for r in listings if r.query["branch"] == "main"]
    # main has 4 completed runs at 2 per page: page 1, then page 2 through rel="next".
    assert [r.query.get("page", "1") for r in main] == ["1", "2"]
    release = [r for r in listings if r.query["branch"] == "release"]
    assert len(release) == 1
    assert {r.query["branch"] for r in listings} == {"main", "release"}


def test_etag_is_sent_and_304_is_no_change(
    poll: Poll, engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    poll()
    first = {r.query["branch"]: r for r in state.listing_requests() if "page" not in r.query}
    before = len(state.requests)
    remaining = state.remaining
    clock.advance(timedelta(minutes=5))
    outcome = poll()
    again = state.requests[before:]
    assert [r.status for r in again] == [304, 304]
    assert all(r.headers.get("if-none-match", "").startswith('W/"') for r in again)
    assert outcome.status == "not_modified"
    assert state.remaining == remaining  # 304s cost no rate-limit budget
    assert len(ci_failures(engine)) == 3
    assert len(stored_events(engine, "system.heartbeat")) == 2  # still a successful poll
    assert set(first) == {"main", "release"}


def test_repoll_never_duplicates_and_picks_up_new_failures(
    poll: Poll, engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    poll()
    state.runs["swan/backend"].insert(0, make_run(108, conclusion="failure"))
    # A re-run of 101 is a new attempt: a new event, the first one stays.
    state.runs["swan/backend"].insert(0, make_run(101, attempt=2, conclusion="failure"))
    clock.advance(timedelta(minutes=5))
    outcome = poll()
    assert outcome.status == "ok"
    assert sorted(e for e in outcome.new_event_ids if e.startswith("gh:")) == [
        "gh:swan:backend:101:2",
        "gh:swan:backend:108:1",
    ]
    assert len(ci_failures(engine)) == 5
    # The same slot polled again (a second leader, a retry): nothing new at all.
    count = len(stored_events(engine))
    assert poll().new_event_ids == []
    assert len(stored_events(engine)) == count


def test_rate_limit_exhaustion_backs_off_until_reset(
    poll: Poll, engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    state.reset_epoch()
    state.remaining = 1
    reset_at = state.reset_at
    assert reset_at is not None
    outcome = poll()
    assert outcome.status == "backoff"
    assert outcome.backoff_until == reset_at
    assert len(state.requests) == 1  # it stopped at x-ratelimit-remaining: 0
    # What page 1 held is not lost; no heartbeat, no failure event for a rate limit.
    assert stored_events(engine, "system.check.failed") == []
    assert stored_events(engine, "system.heartbeat") == []
    saved = poller_state_row(engine, "github-ci")
    assert saved is not None
    assert saved.status == "backoff"
    assert saved.backoff_until == reset_at

    for _ in range(3):  # slots before the reset make no request at all: no error storm
        clock.advance(timedelta(minutes=5))
        assert poll().status == "backoff"
    assert len(state.requests) == 1

    clock.set(reset_at + timedelta(seconds=1))
    outcome = poll()
    assert outcome.status == "ok"
    assert outcome.backoff_until is None
    assert set(ci_failures(engine)) == {
        "gh:swan:backend:101:1",
        "gh:swan:backend:104:1",
        "gh:swan:backend:105:1",
    }


def test_403_rate_limit_without_budget_backs_off(
    poll: Poll, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    state.reset_epoch()
    state.remaining = 0
    outcome = poll()
    assert outcome.status == "backoff"
    assert state.requests[0].status == 403
    assert outcome.backoff_until == state.reset_at


def test_secondary_rate_limit_honours_retry_after(
    poll: Poll, engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    state.secondary_retry_after = 600
    outcome = poll()
    assert outcome.status == "backoff"
    assert outcome.backoff_until == clock.now() + timedelta(seconds=600)
    clock.advance(timedelta(seconds=300))
    assert poll().status == "backoff"
    assert len(state.requests) == 1
    clock.advance(timedelta(seconds=301))
    assert poll().status == "ok"
    assert len(ci_failures(engine)) == 3


def test_without_a_token_the_poller_is_skipped(
    poll: Poll, engine: Engine, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    outcome = poll(env={})
    assert outcome.status == "skipped"
    assert "CT_TEST_GITHUB_TOKEN" in outcome.detail
    assert state.requests == []
    assert stored_events(engine) == []
    saved = poller_state_row(engine, "github-ci")
    assert saved is not None
    assert saved.status == "skipped"


def test_bad_token_is_a_check_failure(poll: Poll, engine: Engine) -> None:
    outcome = poll(env={"CT_TEST_GITHUB_TOKEN": "wrong"})
    assert outcome.status == "failed"
    [row] = stored_events(engine)
    assert row.type == "system.check.failed"
    assert row.payload["system_id"] == "ci"
    assert row.payload["status_code"] == 401
    assert "401" in row.payload["error"]


def test_unknown_repository_fails_but_others_are_still_polled(
    engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, url = github
    seed_runs(state)
    catalog = catalog_with([github_poller(url, repos=["swan/missing", "swan/backend"])])
    outcome = Poll(engine, clock, catalog)()
    assert outcome.status == "failed"
    assert "404" in outcome.detail
    assert len(ci_failures(engine)) == 3
    assert len(stored_events(engine, "system.check.failed")) == 1


def test_pages_are_bounded(
    engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, url = github
    state.runs["swan/backend"] = [make_run(200 + i) for i in range(10)]
    state.page_size = 2
    catalog = catalog_with([github_poller(url, branches=["main"], max_pages=3)])
    Poll(engine, clock, catalog)()
    assert len(state.listing_requests()) == 3
    assert len(ci_failures(engine)) == 6


def test_next_link_to_another_origin_is_not_followed(
    engine: Engine, clock: FrozenClock, github: tuple[GitHubState, str]
) -> None:
    state, url = github
    state.runs["swan/backend"] = [make_run(300 + i) for i in range(4)]
    state.page_size = 2
    # The same server under another name: following it would send the token elsewhere.
    state.link_origin = url.replace("127.0.0.1", "localhost")
    catalog = catalog_with([github_poller(url, branches=["main"])])
    outcome = Poll(engine, clock, catalog)()
    assert outcome.status == "ok"
    assert len(state.requests) == 1
    assert len(ci_failures(engine)) == 2


def test_server_error_is_a_check_failure(
    poll: Poll, engine: Engine, github: tuple[GitHubState, str]
) -> None:
    state, _ = github
    state.fail_status = 502
    outcome = poll()
    assert outcome.status == "failed"
    [row] = stored_events(engine)
    assert row.type == "system.check.failed"
    assert row.payload["status_code"] == 502
    saved = poller_state_row(engine, "github-ci")
    assert saved is not None
    assert saved.backoff_until is None  # a failure is not a rate limit: poll again next slot
