"""Slack, PagerDuty, signed webhooks and Apprise, delivered to a real local HTTP receiver."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from control_tower.kit.clock import FrozenClock
from tests.notify.helpers import action, alert_message, attempts, catalog_with, queue, rows, worker
from tests.notify.receivers import Answer, HttpReceiver

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"notify-test-signing-key-32-bytes").decode()


def test_the_standard_webhooks_test_vector() -> None:
    """REFERENCE.md's verified vector: CT signs through the same package."""
    signer = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = signer.sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, UTC),
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_slack_receives_text_and_mrkdwn_blocks(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with({"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL"})
    queue(
        engine, catalog, "ops-slack", alert_message(title="Backend <red> & down"), now=clock.now()
    )
    env = {"SLACK_URL": f"{receiver.url}/services/T0/B0/xyz"}
    [step] = worker(engine, catalog, clock, env).deliver_until_idle()
    assert step.action == "sent"
    [request] = receiver.received()
    assert request.path == "/services/T0/B0/xyz"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "text": "Backend &lt;red&gt; &amp; down",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Backend &lt;red&gt; &amp; down*\n"
                    "*generateInvoice* failed 4 times.\nRunbook below.",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<https://ct.swan.internal/ui/systems/backend|Backend in CT> · "
                        "<https://runbooks.swan.internal/backend-errors|Runbook>",
                    }
                ],
            },
        ],
    }
    [row] = rows(engine)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, clock.now(), None)
    [attempt] = attempts(engine)
    assert (attempt.outcome, attempt.status_code, attempt.detail) == ("success", 200, "ok")


def test_slack_refusal_is_not_retried(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with({"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL"})
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.answer(Answer(400, "invalid_payload"))
    [step] = worker(engine, catalog, clock, {"SLACK_URL": receiver.url}).deliver_until_idle()
    assert step.action == "dead"
    [row] = rows(engine)
    assert row.status == "dead"
    assert row.last_error == "refused: HTTP 400: invalid_payload"


def test_pagerduty_receives_an_events_v2_trigger(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(
        {
            "name": "pager",
            "kind": "pagerduty",
            "url": f"{receiver.url}/v2/enqueue",
            "routing_key_env": "PD_KEY",
        }
    )
    now = clock.now()
    queue(engine, catalog, "pager", alert_message(title="x" * 1500), now=now)
    receiver.answer(Answer(202, '{"status":"success","dedup_key":"alert:backend-errors"}'))
    [step] = worker(engine, catalog, clock, {"PD_KEY": "R0UTINGKEY"}).deliver_until_idle()
    assert step.action == "sent"
    [request] = receiver.received("/v2/enqueue")
    assert request.json() == {
        "routing_key": "R0UTINGKEY",
        "event_action": "trigger",
        "dedup_key": "alert:backend-errors",
        "payload": {
            "summary": "x" * 1023 + "…",
            "source": "control-tower",
            "severity": "critical",
            "timestamp": now.isoformat(),
            "component": "generateInvoice",
            "group": "backend",
            "class": "backend.fn.error",
            "custom_details": {
                "text": "*generateInvoice* failed 4 times.\nRunbook below.",
                "rule": "backend-errors",
                "count": 4,
            },
        },
        "links": [
            {"href": "https://ct.swan.internal/ui/systems/backend", "text": "Backend in CT"},
            {"href": "https://runbooks.swan.internal/backend-errors", "text": "Runbook"},
        ],
    }
    assert len(request.json()["payload"]["summary"]) == 1024
    [attempt] = attempts(engine)
    assert attempt.status_code == 202


def test_pagerduty_resolve_and_a_trigger_without_dedup_key(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(
        {"name": "pager", "kind": "pagerduty", "url": receiver.url, "routing_key_env": "PD_KEY"}
    )
    queue(engine, catalog, "pager", alert_message(action="resolve", links=()), now=clock.now())
    queue(engine, catalog, "pager", alert_message(dedup_key=None), now=clock.now(), key="k-2")
    receiver.default = Answer(202, '{"status":"success"}')
    worker(engine, catalog, clock, {"PD_KEY": "K"}).deliver_until_idle()
    resolve, trigger = (r.json() for r in receiver.received())
    assert resolve == {
        "routing_key": "K",
        "event_action": "resolve",
        "dedup_key": "alert:backend-errors",
    }
    # Without a dedup_key, the notification's key: a retried trigger opens no second incident.
    assert trigger["dedup_key"] == "k-2"


def test_a_webhook_is_signed_the_standard_webhooks_way(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(
        {"name": "hook", "kind": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}
    )
    now = clock.now()
    queue(engine, catalog, "hook", alert_message(), now=now)
    env = {"HOOK_URL": f"{receiver.url}/hooks/ct", "HOOK_SECRET": WEBHOOK_SECRET}
    receiver.answer(Answer(500, "busy"), Answer(204, ""))
    first = worker(engine, catalog, clock, env).deliver_once()
    assert action(first) == "retrying"
    clock.advance(first_delay(engine, now))
    second = worker(engine, catalog, clock, env).deliver_once()
    assert action(second) == "sent"
    tries = receiver.received("/hooks/ct")
    assert len(tries) == 2
    for request in tries:
        payload = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)
        assert payload["type"] == "notification.alert"
        assert payload["data"]["title"] == "backend.fn.error: 4 high errors in 10 min"
        assert payload["data"]["id"] == request.headers["webhook-id"]
        assert request.headers["webhook-signature"].startswith("v1,")
    # One id for every retry of a message, so the receiver can drop a repeat; a fresh timestamp.
    assert tries[0].headers["webhook-id"] == tries[1].headers["webhook-id"]
    assert int(tries[1].headers["webhook-timestamp"]) > int(tries[0].headers["webhook-timestamp"])
    assert int(tries[0].headers["webhook-timestamp"]) == int(now.timestamp())


def first_delay(engine: Engine, now: datetime) -> timedelta:
    [row] = rows(engine)
    assert row.next_attempt_at is not None
    return row.next_attempt_at - now


def test_a_tampered_webhook_body_fails_verification(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(
        {"name": "hook", "kind": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}
    )
    queue(engine, catalog, "hook", alert_message(), now=clock.now())
    env = {"HOOK_URL": receiver.url, "HOOK_SECRET": WEBHOOK_SECRET}
    worker(engine, catalog, clock, env).deliver_until_idle()
    [request] = receiver.received()
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(request.body.replace(b"4 high", b"5 high"), request.headers)


def test_apprise_delivers_to_a_json_url(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with({"name": "teams", "kind": "apprise", "url_env": "APPRISE_URL"})
    queue(engine, catalog, "teams", alert_message(), now=clock.now())
    host = receiver.url.removeprefix("http://")
    env = {"APPRISE_URL": f"json://{host}/apprise"}
    [step] = worker(engine, catalog, clock, env).deliver_until_idle()
    assert step.action == "sent", step
    [request] = receiver.received("/apprise")
    body = request.json()
    assert body["title"] == "backend.fn.error: 4 high errors in 10 min"
    assert body["type"] == "failure"  # critical
    assert body["message"].startswith("*generateInvoice* failed 4 times.")
    assert "Runbook: https://runbooks.swan.internal/backend-errors" in body["message"]


def test_apprise_failure_is_retried_and_a_bad_url_is_refused(
    engine: Engine, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(
        {"name": "teams", "kind": "apprise", "url_env": "APPRISE_URL"},
        {"name": "bad", "kind": "apprise", "url_env": "BAD_URL"},
    )
    queue(engine, catalog, "teams", alert_message(), now=clock.now())
    queue(engine, catalog, "bad", alert_message(), now=clock.now())
    receiver.answer(Answer(503, "down"))
    host = receiver.url.removeprefix("http://")
    env = {"APPRISE_URL": f"json://{host}/apprise", "BAD_URL": "nosuchservice://x"}
    steps = worker(engine, catalog, clock, env).deliver_until_idle()
    assert [s.action for s in steps] == ["retrying", "dead"]
    teams, bad = rows(engine)
    assert teams.status == "failed"
    assert teams.last_error.startswith("failure")
    assert bad.last_error == "refused: not an Apprise URL of a service it knows"
