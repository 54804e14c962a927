"""The GitHub Actions poller: failed workflow runs on protected branches → `ci.workflow.failed`.

Per repository and protected branch it lists completed runs
(`GET {api_url}/repos/{owner}/{repo}/actions/runs?branch=B&status=completed&per_page=100`):

- conditional: `If-None-Match` with the ETag stored from the last full listing; `304` means
  nothing changed (and does not count against GitHub's rate limit) — still a successful poll;
- paginated: follows `Link: <…>; rel="next"` up to `max_pages`, only on the API's own origin,
  so the token is never sent elsewhere;
- rate limits: `x-ratelimit-remaining: 0` stops the poll and backs off until
  `x-ratelimit-reset`; a `403`/`429` with `retry-after` (secondary limit) or with no remaining
  budget does the same. The back-off is stored in the poller's state, and polls before it ends
  make no request at all, so there is no error storm.

Each failed run becomes an event with the id `gh:<owner>:<repo>:<run id>:<run attempt>` —
the same id the webhook (integrations/github.py) gives it — so polling and pushing one run, or
polling it twice, store one event.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import structlog
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import FAILED_CONCLUSIONS, GithubActionsPoller
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.http_client import build_http_client
from control_tower.pollers import repository
from control_tower.pollers.common import (
    PollOutcome,
    PollStatus,
    check_failed_event,
    heartbeat_event,
    record_poll,
)

log = structlog.get_logger(__name__)

GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
DEFAULT_BACKOFF = timedelta(seconds=60)
_ID_MAX = 128


def workflow_event_id(repo: str, run_id: int, run_attempt: int) -> str:
    """`gh:<owner>:<repo>:<run id>:<attempt>` (ids may not hold '/'); hashed if too long."""
    owner_repo = repo.lower().replace("/", ":")
    event_id = f"gh:{owner_repo}:{run_id}:{run_attempt}"
    if len(event_id) > _ID_MAX:
        digest = hashlib.sha256(repo.lower().encode()).hexdigest()[:24]
        event_id = f"gh:{digest}:{run_id}:{run_attempt}"
    return event_id


def workflow_failed_event(
    run: Mapping[str, Any], protected: frozenset[str], fallback_repo: str | None = None
) -> dict[str, Any] | None:
    """The `ci.workflow.failed` event for a run shaped as GitHub's `workflow_run` object,
    or None when the run is not a completed failure on a protected branch."""
    if run.get("status") != "completed" or run.get("conclusion") not in FAILED_CONCLUSIONS:
        return None
    if run.get("head_branch") not in protected:
        return None
    run_id = run.get("id")
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        return None
    repository_obj = run.get("repository")
    repo = (
        repository_obj.get("full_name") if isinstance(repository_obj, Mapping) else None
    ) or fallback_repo
    attempt = run.get("run_attempt") or 1
    updated_at = run.get("updated_at")
    if not isinstance(repo, str) or not isinstance(attempt, int) or not isinstance(updated_at, str):
        return None
    return {
        "event_id": workflow_event_id(repo, run_id, attempt),
        "type": "ci.workflow.failed",
        "source": "github",
        "occurred_at": updated_at,
        "payload": {
            "repo": repo,
            "run_id": run_id,
            "job": str(run.get("name") or ""),
            "url": str(run.get("html_url") or ""),
            "branch": run.get("head_branch"),
            "conclusion": run.get("conclusion"),
        },
    }


class RateLimitedError(Exception):
    def __init__(self, until: datetime, detail: str) -> None:
        super().__init__(detail)
        self.until = until


class GithubApiError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def rate_limit_until(response: httpx.Response, now: datetime) -> datetime | None:
    """When a response says the budget is spent: the time to wait until, else None."""
    remaining = _header_int(response, "x-ratelimit-remaining")
    reset = _header_int(response, "x-ratelimit-reset")
    retry_after = _header_int(response, "retry-after")
    limited = response.status_code in (403, 429)
    if limited and retry_after is not None:
        return now + timedelta(seconds=max(retry_after, 1))
    if remaining == 0:
        return datetime.fromtimestamp(reset, UTC) if reset is not None else now + DEFAULT_BACKOFF
    if response.status_code == 429:
        return now + DEFAULT_BACKOFF
    return None


def runs_url(api_url: str, repo: str, branch: str) -> str:
    query = urlencode({"branch": branch, "status": "completed", "per_page": 100})
    return f"{api_url}/repos/{repo}/actions/runs?{query}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@dataclass
class Listing:
    runs: list[dict[str, Any]] = field(default_factory=list)
    not_modified: bool = False
    etag: str | None = None  # to store: only for a listing read to its end (or page bound)
    backoff_until: datetime | None = None


def _get(client: httpx.Client, url: str, headers: dict[str, str], now: datetime) -> httpx.Response:
    response = client.get(url, headers=headers)
    if response.status_code in (403, 429):
        until = rate_limit_until(response, now)
        if until is not None:
            raise RateLimitedError(until, f"GitHub rate limit: status {response.status_code}")
    if response.status_code not in (200, 304):
        raise GithubApiError(
            f"GitHub answered {response.status_code} for {url}", response.status_code
        )
    return response


def list_runs(
    client: httpx.Client, url: str, etag: str | None, *, max_pages: int, now: datetime
) -> Listing:
    """Completed runs at `url`, following `rel="next"` links on the same origin."""
    response = _get(client, url, {"If-None-Match": etag} if etag else {}, now)
    if response.status_code == 304:
        return Listing(not_modified=True, backoff_until=rate_limit_until(response, now))
    listing = Listing(etag=response.headers.get("etag"))
    pages = 0
    while True:
        pages += 1
        try:
            body = response.json()
            listing.runs.extend(r for r in body["workflow_runs"] if isinstance(r, dict))
        except (ValueError, KeyError, TypeError) as exc:
            raise GithubApiError(f"unexpected response body from {url}: {exc}") from exc
        listing.backoff_until = rate_limit_until(response, now)
        next_url = response.links.get("next", {}).get("url")
        if next_url is None:
            return listing
        if listing.backoff_until is not None:
            listing.etag = None  # not read to the end: list it in full next time
            return listing
        if pages >= max_pages:
            log.info("github_pages_bounded", url=url, max_pages=max_pages)
            return listing
        if _origin(next_url) != _origin(url):
            log.warning("github_next_link_off_origin", url=url)
            return listing
        response = _get(client, next_url, {}, now)


@dataclass
class _Progress:
    events: list[dict[str, Any]] = field(default_factory=list)
    etags: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, int | None]] = field(default_factory=list)
    fetched: int = 0
    not_modified: int = 0
    backoff_until: datetime | None = None
    interrupted: bool = False


def _poll_all(
    poller: GithubActionsPoller, token: str, etags: dict[str, str], now: datetime
) -> _Progress:
    progress = _Progress()
    protected = frozenset(poller.branches)
    headers = {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}
    with build_http_client(poller.timeout_seconds, headers=headers) as client:
        for repo in poller.repos:
            for branch in poller.branches:
                if progress.backoff_until is not None:
                    progress.interrupted = True
                    return progress
                url = runs_url(poller.api_url, repo, branch)
                try:
                    listing = list_runs(
                        client, url, etags.get(url), max_pages=poller.max_pages, now=now
                    )
                except RateLimitedError as exc:
                    progress.backoff_until = exc.until
                    progress.interrupted = True
                    return progress
                except GithubApiError as exc:
                    progress.errors.append((str(exc), exc.status_code))
                    continue
                except httpx.TimeoutException:
                    progress.errors.append((f"timeout after {poller.timeout_seconds:g} s", None))
                    continue
                except httpx.HTTPError as exc:
                    progress.errors.append((f"connection error: {type(exc).__name__}", None))
                    continue
                progress.fetched += 1
                progress.not_modified += listing.not_modified
                progress.backoff_until = listing.backoff_until
                if listing.etag:
                    progress.etags[url] = listing.etag
                for run in listing.runs:
                    event = workflow_failed_event(run, protected, fallback_repo=repo)
                    if event is not None:
                        progress.events.append(event)
    return progress


def run_github_poller(
    engine: Engine,
    catalog: Catalog,
    poller: GithubActionsPoller,
    *,
    slot: datetime,
    clock: Clock,
    env: Mapping[str, str] | None = None,
) -> PollOutcome:
    env = os.environ if env is None else env
    now = clock.now()
    with unit_of_work(engine, write=False) as conn:
        state = repository.get_state(conn, poller.name)
        etags = repository.get_etags(conn, poller.name)

    def quiet(
        status: PollStatus, detail: str, backoff_until: datetime | None = None
    ) -> PollOutcome:
        return record_poll(
            engine, catalog, poller=poller.name, kind=poller.kind, raw_events=[],
            status=status, detail=detail, now=now, succeeded=False, backoff_until=backoff_until,
        )  # fmt: skip

    if state is not None and state.backoff_until is not None and now < state.backoff_until:
        until = state.backoff_until
        return quiet("backoff", f"rate limited: waiting until {until.isoformat()}", until)
    token = env.get(poller.token_env, "").strip()
    if not token:
        if state is None or state.status != "skipped":  # warn once, not every interval
            log.warning("github_token_missing", poller=poller.name, env_var=poller.token_env)
        return quiet("skipped", f"skipped: environment variable {poller.token_env} is not set")

    progress = _poll_all(poller, token, etags, now)
    events = list(progress.events)
    if progress.errors:
        error, status_code = progress.errors[0]
        if len(progress.errors) > 1:
            error = f"{error} (and {len(progress.errors) - 1} more)"
        log.warning("github_poll_failed", poller=poller.name, error=error)
        events.append(check_failed_event(poller.name, poller.system, slot, now, error, status_code))
        status: PollStatus = "failed"
        detail, succeeded = error, False
    elif progress.interrupted:
        assert progress.backoff_until is not None
        log.warning(
            "github_rate_limited", poller=poller.name, until=progress.backoff_until.isoformat()
        )
        status, succeeded = "backoff", False
        detail = f"rate limited: waiting until {progress.backoff_until.isoformat()}"
    else:
        events.append(heartbeat_event(poller.name, poller.system, slot, now))
        all_same = progress.not_modified == progress.fetched
        status = "not_modified" if all_same else "ok"
        detail = f"{progress.fetched} listing(s), {len(progress.events)} failed run(s)"
        succeeded = True
    return record_poll(
        engine,
        catalog,
        poller=poller.name,
        kind=poller.kind,
        now=now,
        raw_events=events,
        status=status,
        detail=detail,
        succeeded=succeeded,
        backoff_until=progress.backoff_until,
        etags=progress.etags,
    )
