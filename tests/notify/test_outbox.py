"""Channels in the catalogue, and queuing: in the caller's transaction, idempotent by key."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from control_tower.catalog.loader import CatalogError, default_catalog_text, parse_catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.kit.errors import NotFound
from control_tower.models import notifications
from control_tower.notify.service import Message, enqueue
from tests.notify.helpers import alert_message, catalog_with, queue, rows

SLACK = {"name": "ops-slack", "kind": "slack", "url_env": "CT_SLACK_WEBHOOK_URL"}
PAGER = {"name": "pager", "kind": "pagerduty", "routing_key_env": "CT_PD_KEY"}

CHANNELS_YAML = """
channels:
  - name: ops-slack
    kind: slack
    url_env: CT_SLACK_WEBHOOK_URL
  - name: ops-email
    kind: email
    host: smtp.example.internal
    tls: tls
    port: 465
    username: ct
    password_env: CT_SMTP_PASSWORD
    from: ct@example.internal
    to: [ops@example.internal]
  - name: pager
    kind: pagerduty
    routing_key_env: CT_PD_KEY
  - name: hook
    kind: webhook
    url_env: CT_HOOK_URL
    secret_env: CT_HOOK_SECRET
  - name: teams
    kind: apprise
    url_env: CT_TEAMS_URL
"""


def test_the_default_catalogue_loads_without_any_channel_variable_set() -> None:
    catalog = parse_catalog(default_catalog_text(), "default")
    assert catalog.channels == []


def test_every_kind_parses_with_its_defaults() -> None:
    catalog = parse_catalog(default_catalog_text() + CHANNELS_YAML, "test")
    by_name = {c.name: c for c in catalog.channels}
    assert [c.kind for c in catalog.channels] == [
        "slack",
        "email",
        "pagerduty",
        "webhook",
        "apprise",
    ]
    email = by_name["ops-email"]
    assert email.kind == "email"
    assert (email.sender, email.to, email.tls, email.port) == (
        "ct@example.internal", ["ops@example.internal"], "tls", 465,
    )  # fmt: skip
    pager = by_name["pager"]
    assert pager.kind == "pagerduty"
    assert pager.url == "https://events.pagerduty.com/v2/enqueue"
    assert pager.retry.max_attempts == 6


def test_a_secret_cannot_be_written_in_the_catalogue() -> None:
    text = default_catalog_text() + (
        "\nchannels:\n  - name: ops-slack\n    kind: slack\n"
        "    url: https://hooks.slack.com/services/T0/B0/secret\n"
    )
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "test")
    messages = [str(p) for p in caught.value.problems]
    assert any("url_env" in m and "Field required" in m for m in messages), messages
    assert any("url" in m and "Extra inputs are not permitted" in m for m in messages), messages


def test_duplicate_channel_names_are_reported_with_their_line() -> None:
    text = default_catalog_text() + (
        "\nchannels:\n"
        "  - {name: ops, kind: slack, url_env: A}\n"
        "  - {name: ops, kind: apprise, url_env: B}\n"
    )
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "test")
    [problem] = [p for p in caught.value.problems if p.path.startswith("channels")]
    assert problem.path == "channels[1].name"
    assert "duplicate name 'ops'" in problem.message
    assert problem.line is not None


def test_enqueue_is_idempotent_by_key_per_channel(engine: Engine, clock: FrozenClock) -> None:
    catalog = catalog_with(SLACK, PAGER)
    now = clock.now()
    assert queue(engine, catalog, "ops-slack", alert_message(), now=now, key="alert:1")
    assert not queue(
        engine, catalog, "ops-slack", alert_message(title="other"), now=now, key="alert:1"
    )
    # The same key queues the same message on another channel.
    assert queue(engine, catalog, "pager", alert_message(), now=now, key="alert:1")
    stored = rows(engine)
    assert [(r.channel, r.idempotency_key, r.status, r.attempts) for r in stored] == [
        ("ops-slack", "alert:1", "pending", 0),
        ("pager", "alert:1", "pending", 0),
    ]
    assert stored[0].message["title"] == "backend.fn.error: 4 high errors in 10 min"
    assert stored[0].kind == "alert"
    assert stored[0].next_attempt_at == now
    assert stored[0].message["at"] == now.isoformat()


def test_enqueue_writes_in_the_callers_transaction(engine: Engine, clock: FrozenClock) -> None:
    catalog = catalog_with(SLACK)

    class Boom(Exception):
        pass

    def alert_then_fail() -> None:
        with unit_of_work(engine) as conn:
            assert enqueue(conn, catalog, "ops-slack", alert_message(), now=clock.now(), key="k")
            assert conn.execute(notifications.select()).first() is not None
            raise Boom  # the caller's work failed: its notification goes with it

    with pytest.raises(Boom):
        alert_then_fail()
    assert rows(engine) == []


def test_an_unknown_channel_is_a_clear_error(engine: Engine, clock: FrozenClock) -> None:
    catalog = catalog_with(SLACK)
    with pytest.raises(NotFound) as caught, unit_of_work(engine) as conn:
        enqueue(conn, catalog, "nope", alert_message(), now=clock.now(), key="k")
    assert caught.value.message == "no channel 'nope' in the catalogue (channels: ops-slack)"


def test_a_message_survives_its_json_form() -> None:
    message = alert_message(html="<p>hi</p>", action="resolve")
    assert Message.from_json(message.to_json()) == message
