"""Real local HTTP servers the pollers talk to: a health endpoint and a fake GitHub REST API.

The fake GitHub serves `GET /repos/{owner}/{repo}/actions/runs` shaped like GitHub's documented
"List workflow runs for a repository": `{total_count, workflow_runs: [workflow-run…]}`, with
`ETag`/`If-None-Match` (304 without a body, not counted against the rate limit), `Link`
pagination (`rel="next"`, `"last"`, `"first"`, `"prev"`), and the `x-ratelimit-*` headers,
answering 403 "API rate limit exceeded" once the budget is spent until the reset time, which
follows the test's FrozenClock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import yaml
from sqlalchemy import Engine, Row, select

from control_tower.catalog import Catalog
from control_tower.catalog.loader import default_catalog_text, parse_catalog
from control_tower.kit.clock import FrozenClock
from control_tower.models import events, poller_state
from tests.helpers import iso

GITHUB_TOKEN = "ghp_test_token_not_secret"


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return None

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: Any = None

    def handle_error(self, *_args: Any) -> None:
        # A client that gave up (a timeout test) closes its socket mid-answer: not news.
        return None


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], state: Any) -> Iterator[str]:
    """Serve on 127.0.0.1:<free port> in a thread; yields the base URL."""
    server = _Server(("127.0.0.1", 0), handler)
    server.state = state
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release = getattr(state, "release", None)
        if release is not None:
            release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- a health endpoint -------------------------------------------------------------------------


@dataclass
class HealthState:
    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "ok"})
    raw_body: bytes | None = None
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    hits: int = 0


class _HealthHandler(_QuietHandler):
    def do_GET(self) -> None:
        state: HealthState = self.server.state  # type: ignore[attr-defined]
        state.hits += 1
        if state.hang:
            state.release.wait(10)
        if state.raw_body is not None:
            self.send_response(state.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(state.raw_body)))
            self.end_headers()
            self.wfile.write(state.raw_body)
            return
        self.send_json(state.status, state.body)


@contextmanager
def health_server(state: HealthState) -> Iterator[str]:
    with serve(_HealthHandler, state) as url:
        yield url


# --- a fake GitHub -----------------------------------------------------------------------------


def make_run(
    run_id: int,
    *,
    repo: str = "swan/backend",
    branch: str = "main",
    conclusion: str | None = "failure",
    status: str = "completed",
    name: str = "CI",
    attempt: int = 1,
    updated_at: str | None = None,
    base: str = "https://github.com",
) -> dict[str, Any]:
    """A workflow run shaped like GitHub's `workflow-run` schema; by default it ended a minute
    ago by the process clock (the suite's clock starts from it), started half an hour before."""
    ended = datetime.fromisoformat(updated_at) if updated_at else datetime.now(UTC)
    ended = ended.replace(microsecond=0) - (timedelta() if updated_at else timedelta(minutes=1))
    started = ended - timedelta(minutes=30)
    owner, repo_name = repo.split("/")
    api = f"https://api.github.com/repos/{repo}"
    user = {
        "login": "octocat",
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "gravatar_id": "",
        "url": "https://api.github.com/users/octocat",
        "html_url": "https://github.com/octocat",
        "type": "User",
        "site_admin": False,
    }
    repository = {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": repo_name,
        "full_name": repo,
        "private": True,
        "owner": {**user, "login": owner},
        "html_url": f"{base}/{repo}",
        "description": None,
        "fork": False,
        "url": api,
    }
    return {
        "id": run_id,
        "name": name,
        "node_id": f"WFR_{run_id}",
        "check_suite_id": run_id * 10,
        "check_suite_node_id": f"CS_{run_id}",
        "head_branch": branch,
        "head_sha": hashlib.sha1(str(run_id).encode()).hexdigest(),
        "path": ".github/workflows/ci.yml",
        "display_title": f"Commit {run_id}",
        "run_number": run_id % 1000,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 159038,
        "url": f"{api}/actions/runs/{run_id}",
        "html_url": f"{base}/{repo}/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": iso(started),
        "updated_at": iso(ended),
        "actor": user,
        "triggering_actor": user,
        "run_attempt": attempt,
        "referenced_workflows": [],
        "run_started_at": iso(started + timedelta(seconds=5)),
        "jobs_url": f"{api}/actions/runs/{run_id}/jobs",
        "logs_url": f"{api}/actions/runs/{run_id}/logs",
        "check_suite_url": f"{api}/check-suites/{run_id * 10}",
        "artifacts_url": f"{api}/actions/runs/{run_id}/artifacts",
        "cancel_url": f"{api}/actions/runs/{run_id}/cancel",
        "rerun_url": f"{api}/actions/runs/{run_id}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/159038",
        "head_commit": {
            "id": hashlib.sha1(str(run_id).encode()).hexdigest(),
            "tree_id": hashlib.sha1(f"t{run_id}".encode()).hexdigest(),
            "message": "Fix the build",
            "timestamp": iso(started - timedelta(minutes=1)),
            "author": {"name": "Octo Cat", "email": "octocat@github.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
        "repository": repository,
        "head_repository": repository,
    }


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class GitHubState:
    clock: FrozenClock
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 100  # GitHub's per_page cap; tests lower it to see pagination
    limit: int = 5000
    remaining: int = 5000
    reset_at: datetime | None = None
    secondary_retry_after: int | None = None  # next request gets 403 + retry-after
    fail_status: int | None = None  # next requests get this status
    link_origin: str | None = None  # put another origin in Link headers (must not be followed)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset_epoch(self) -> int:
        if self.reset_at is None or self.clock.now() >= self.reset_at:
            self.reset_at = self.clock.now() + timedelta(hours=1)
            self.remaining = self.limit
        return int(self.reset_at.timestamp())

    def listing_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/actions/runs")]


class _GitHubHandler(_QuietHandler):
    def do_GET(self) -> None:
        state: GitHubState = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            status, body, headers = self._answer(state)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            state.requests.append(
                Recorded(parts.path, query, {k.lower(): v for k, v in self.headers.items()}, status)
            )
        self.send_json(status, body, headers)

    def _rate_headers(self, state: GitHubState) -> dict[str, str]:
        reset = state.reset_epoch()
        return {
            "x-ratelimit-limit": str(state.limit),
            "x-ratelimit-remaining": str(state.remaining),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(state.limit - state.remaining),
            "x-ratelimit-resource": "core",
        }

    def _answer(self, state: GitHubState) -> tuple[int, Any, dict[str, str]]:
        if self.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return 401, {"message": "Bad credentials", "status": "401"}, {}
        if state.secondary_retry_after is not None:
            retry = state.secondary_retry_after
            state.secondary_retry_after = None
            body = {"message": "You have exceeded a secondary rate limit.", "status": "403"}
            return 403, body, {"retry-after": str(retry), **self._rate_headers(state)}
        state.reset_epoch()
        if state.remaining <= 0:
            body = {
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            }
            return 403, body, self._rate_headers(state)
        if state.fail_status is not None:
            return state.fail_status, {"message": "Server Error"}, {}
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 5 or segments[0] != "repos" or segments[3:] != ["actions", "runs"]:
            return 404, {"message": "Not Found", "status": "404"}, {}
        repo = f"{segments[1]}/{segments[2]}"
        if repo not in state.runs:
            return 404, {"message": "Not Found", "status": "404"}, {}
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        runs = [
            r
            for r in state.runs[repo]
            if ("branch" not in query or r["head_branch"] == query["branch"])
            and ("status" not in query or r["status"] == query["status"])
        ]
        per_page = min(int(query.get("per_page", 30)), state.page_size)
        page = int(query.get("page", 1))
        last = max(1, -(-len(runs) // per_page))
        body = {
            "total_count": len(runs),
            "workflow_runs": runs[(page - 1) * per_page : page * per_page],
        }
        etag = 'W/"' + hashlib.sha256(json.dumps(body).encode()).hexdigest()[:40] + '"'
        if self.headers.get("If-None-Match") == etag:
            # A 304 to a conditional request does not count against the rate limit.
            return 304, None, {"ETag": etag, **self._rate_headers(state)}
        state.remaining -= 1
        headers = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        headers.update(self._rate_headers(state))
        link = self._links(query, parts.path, page, last)
        if link:
            headers["Link"] = link
        return 200, body, headers

    def _links(self, query: dict[str, str], path: str, page: int, last: int) -> str:
        state: GitHubState = self.server.state  # type: ignore[attr-defined]
        host = state.link_origin or f"http://{self.headers.get('Host')}"

        def url(n: int) -> str:
            return f"{host}{path}?{urlencode({**query, 'page': n})}"

        links = []
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        return ", ".join(links)


@contextmanager
def fake_github(state: GitHubState) -> Iterator[str]:
    with serve(_GitHubHandler, state) as url:
        yield url


# --- catalogues --------------------------------------------------------------------------------


def catalog_data(pollers: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_catalog_text())
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    data["pollers"] = pollers
    return data


def catalog_with(pollers: list[dict[str, Any]]) -> Catalog:
    """The default catalogue with its pollers replaced (and checked like a file would be)."""
    return parse_catalog(yaml.safe_dump(catalog_data(pollers)), "(test)")


def http_poller(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "backend-health",
        "kind": "http",
        "system": "backend",
        "url": url,
        "interval_seconds": 60,
        "timeout_seconds": 2,
        "expected_status": 200,
        **overrides,
    }


def github_poller(api_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "github-ci",
        "kind": "github_actions",
        "system": "ci",
        "repos": ["swan/backend"],
        "branches": ["main", "release"],
        "token_env": "CT_TEST_GITHUB_TOKEN",
        "api_url": api_url,
        "interval_seconds": 300,
        **overrides,
    }


# --- reading back ------------------------------------------------------------------------------


def stored_events(engine: Engine, event_type: str | None = None) -> list[Row[Any]]:
    query = select(events).order_by(events.c.seq)
    if event_type is not None:
        query = query.where(events.c.type == event_type)
    with engine.connect() as conn:
        return list(conn.execute(query))


def poller_state_row(engine: Engine, name: str) -> Row[Any] | None:
    with engine.connect() as conn:
        return conn.execute(select(poller_state).where(poller_state.c.poller == name)).first()
