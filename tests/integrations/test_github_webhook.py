"""POST /integrations/github: GitHub's own signed workflow_run deliveries, on both stores."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from control_tower.app import create_app
from control_tower.catalog.pollers import GithubActionsPoller
from control_tower.integrations.github.endpoints import github_webhook
from control_tower.kit.clock import FrozenClock
from control_tower.models import github_deliveries
from control_tower.pollers.service import run_poller
from control_tower.scheduler import slot_for
from control_tower.settings import Settings
from tests.pollers.fakes import (
    GITHUB_TOKEN,
    GitHubState,
    catalog_data,
    catalog_with,
    fake_github,
    github_poller,
    make_run,
    stored_events,
)

SECRET = "It's a Secret to Everybody"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def workflow_run_delivery(run: dict[str, Any], action: str = "completed") -> dict[str, Any]:
    return {
        "action": action,
        "workflow_run": run,
        "workflow": {"id": run["workflow_id"], "name": run["name"], "path": run["path"]},
        "repository": run["repository"],
        "sender": run["actor"],
    }


class Hook:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(
        self,
        payload: Any,
        *,
        event: str = "workflow_run",
        delivery: str | None = None,
        sign: str | None = SECRET,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = json.dumps(payload).encode()
        sent = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/abc123",
        }
        if sign is not None:
            sent["X-Hub-Signature-256"] = signature(body, sign)
        sent.update(headers or {})
        return self.client.post("/integrations/github", content=body, headers=sent)


def app_settings(settings: Settings, tmp_path: Path, api_url: str, **extra: Any) -> Settings:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog_data([github_poller(api_url)])))
    return settings.model_copy(update={"catalog": path, **extra})


@pytest.fixture
def hook(settings: Settings, tmp_path: Path, clock: FrozenClock) -> Iterator[Hook]:
    app = create_app(
        app_settings(settings, tmp_path, "http://127.0.0.1:9", github_webhook_secret=SECRET),
        clock=clock,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Hook(client)


def deliveries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(github_deliveries)).scalar_one())


def test_failed_run_on_a_protected_branch_becomes_an_event(hook: Hook, engine: Engine) -> None:
    run = make_run(101, conclusion="failure", updated_at="2026-11-26T09:31:00Z")
    answer = hook.post(workflow_run_delivery(run), delivery="d-1")
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "accepted": True,
        "event_id": "gh:swan:backend:101:1",
        "new_event": True,
        "delivery": "d-1",
        "duplicate": False,
    }
    [row] = stored_events(engine)
    assert row.event_id == "gh:swan:backend:101:1"
    assert row.type == "ci.workflow.failed"
    assert row.source == "github"
    assert row.producer == "webhook:github"
    assert row.payload == {
        "repo": "swan/backend",
        "run_id": 101,
        "job": "CI",
        "url": "https://github.com/swan/backend/actions/runs/101",
        "branch": "main",
        "conclusion": "failure",
    }


def test_every_protected_branch_from_the_catalogue_counts(hook: Hook, engine: Engine) -> None:
    run = make_run(104, branch="release", conclusion="timed_out")
    assert hook.post(workflow_run_delivery(run)).status_code == 202
    assert [r.event_id for r in stored_events(engine)] == ["gh:swan:backend:104:1"]


def test_unconfigured_repository_protects_main_only(hook: Hook, engine: Engine) -> None:
    on_main = make_run(1, repo="swan/website", conclusion="failure")
    on_release = make_run(2, repo="swan/website", branch="release", conclusion="failure")
    assert hook.post(workflow_run_delivery(on_main)).json()["accepted"] is True
    ignored = hook.post(workflow_run_delivery(on_release))
    assert ignored.status_code == 202
    assert ignored.json()["ignored"] is True
    assert [r.event_id for r in stored_events(engine)] == ["gh:swan:website:1:1"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=abc"},
        {"X-Hub-Signature-256": "garbage"},
    ],
)
def test_bad_signature_is_401(hook: Hook, engine: Engine, headers: dict[str, str]) -> None:
    answer = hook.post(workflow_run_delivery(make_run(101)), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "bad_signature"
    assert stored_events(engine) == []
    assert deliveries(engine) == 0


def test_signature_with_another_secret_is_401(hook: Hook, engine: Engine) -> None:
    answer = hook.post(workflow_run_delivery(make_run(101)), sign="another secret")
    assert answer.status_code == 401
    assert stored_events(engine) == []


def test_missing_signature_is_401(hook: Hook, engine: Engine) -> None:
    answer = hook.post(workflow_run_delivery(make_run(101)), sign=None)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "signature_missing"
    assert stored_events(engine) == []


def test_redelivery_is_a_duplicate(hook: Hook, engine: Engine) -> None:
    payload = workflow_run_delivery(make_run(101))
    assert hook.post(payload, delivery="d-42").status_code == 202
    again = hook.post(payload, delivery="d-42")
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "delivery": "d-42"}
    assert len(stored_events(engine)) == 1
    assert deliveries(engine) == 1


def test_same_run_in_two_deliveries_is_one_event(hook: Hook, engine: Engine) -> None:
    payload = workflow_run_delivery(make_run(101))
    hook.post(payload)
    second = hook.post(payload)  # GitHub retried with a new delivery id
    assert second.status_code == 202
    assert second.json()["new_event"] is False
    assert len(stored_events(engine)) == 1


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("push", {"ref": "refs/heads/main"}, "event 'push' is not handled"),
        (
            "workflow_run",
            workflow_run_delivery(make_run(9, status="in_progress", conclusion=None), "requested"),
            "action 'requested' is not 'completed'",
        ),
        (
            "workflow_run",
            workflow_run_delivery(make_run(9, conclusion="success")),
            "conclusion 'success' on branch 'main'",
        ),
        (
            "workflow_run",
            workflow_run_delivery(make_run(9, branch="feature-x")),
            "conclusion 'failure' on branch 'feature-x'",
        ),
    ],
)
def test_other_events_and_actions_are_ignored(
    hook: Hook, engine: Engine, event: str, payload: dict[str, Any], reason: str
) -> None:
    answer = hook.post(payload, event=event)
    assert answer.status_code == 202
    body = answer.json()
    assert body["ignored"] is True
    assert body["reason"].startswith(reason)
    assert stored_events(engine) == []


def test_ping_is_200(hook: Hook) -> None:
    answer = hook.post({"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")
    assert answer.status_code == 200
    assert answer.json()["ok"] is True


def test_missing_delivery_header_is_400(hook: Hook) -> None:
    answer = hook.post({"zen": "x"}, event="ping", headers={"X-GitHub-Delivery": ""})
    assert answer.status_code == 400


def test_malformed_json_is_400(hook: Hook) -> None:
    body = b"{not json"
    answer = hook.client.post(
        "/integrations/github",
        content=body,
        headers={
            "X-Hub-Signature-256": signature(body),
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "d-bad",
        },
    )
    assert answer.status_code == 400


def test_body_over_the_limit_is_413(settings: Settings, tmp_path: Path, clock: FrozenClock) -> None:
    small = app_settings(
        settings, tmp_path, "http://127.0.0.1:9", github_webhook_secret=SECRET, max_batch_bytes=64
    )
    with TestClient(create_app(small, clock=clock)) as client:
        answer = Hook(client).post(workflow_run_delivery(make_run(101)))
    assert answer.status_code == 413


def test_deliveries_are_rate_limited_per_address_before_the_body_is_read(
    settings: Settings, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> None:
    limited = app_settings(
        settings, tmp_path, "http://127.0.0.1:9", github_webhook_secret=SECRET,
        github_rate_limit_per_minute=2,
    )  # fmt: skip
    with TestClient(create_app(limited, clock=clock)) as client:
        hook = Hook(client)
        assert hook.post({"zen": "x"}, event="ping").status_code == 200
        assert hook.post({"zen": "x"}, event="ping", sign="forged").status_code == 401
        refused = hook.post(workflow_run_delivery(make_run(102)))  # signed, but over budget
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limited"
    assert deliveries(engine) == 1  # only the ping was stored; the refused one changed nothing


def test_without_a_secret_the_endpoint_is_503(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        answer = Hook(client).post({"zen": "x"}, event="ping")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "webhook_not_configured"


def test_endpoint_declares_its_own_authentication() -> None:
    assert getattr(github_webhook, "public_auth", None) == "github-signature"


def test_same_run_polled_and_pushed_is_one_event(
    settings: Settings, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> None:
    state = GitHubState(clock=clock)
    run = make_run(101, conclusion="failure", updated_at="2026-11-26T09:31:00Z")
    state.runs["swan/backend"] = [run]
    with fake_github(state) as api_url:
        catalog = catalog_with([github_poller(api_url)])
        poller = catalog.pollers[0]
        assert isinstance(poller, GithubActionsPoller)
        polled = run_poller(
            engine,
            catalog,
            poller,
            slot=slot_for(clock.now(), 300),
            clock=clock,
            env={"CT_TEST_GITHUB_TOKEN": GITHUB_TOKEN},
        )
        assert "gh:swan:backend:101:1" in polled.new_event_ids
        app = create_app(
            app_settings(settings, tmp_path, api_url, github_webhook_secret=SECRET), clock=clock
        )
        with TestClient(app) as client:
            pushed = Hook(client).post(workflow_run_delivery(run))
    assert pushed.status_code == 202
    assert pushed.json()["event_id"] == "gh:swan:backend:101:1"
    assert pushed.json()["new_event"] is False
    assert len(stored_events(engine, "ci.workflow.failed")) == 1
