"""An alert's notifications, delivered by notify's worker to a real local HTTP receiver: one
PagerDuty incident (dedup_key = the fingerprint) triggered, acknowledged and resolved, and
the same story in Slack, each notification queued once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from control_tower.alerts import service
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.notify.worker import DeliveryWorker
from control_tower.routing.router import Router
from tests.alerts.conftest import catalog_with
from tests.alerts.helpers import evaluate, fn_error, notify, only_alert, outbox
from tests.helpers import Emit
from tests.notify.receivers import HttpReceiver, running_http_receiver

CHANNELS = [
    {"name": "pager", "kind": "pagerduty", "routing_key_env": "PD_KEY",
     "url": "http://127.0.0.1:1/v2/enqueue"},
    {"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL"},
]  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with running_http_receiver() as r:
        yield r


@pytest.fixture
def catalog(receiver: HttpReceiver) -> Catalog:
    default = catalog_with(None).alert_rules[0].model_dump(mode="json", exclude_none=True)
    channels = [dict(CHANNELS[0], url=f"{receiver.url}/v2/enqueue"), CHANNELS[1]]
    return catalog_with([{**default, "channels": ["pager", "ops-slack"]}], channels)


def deliver(engine: Engine, catalog: Catalog, clock: FrozenClock, receiver: HttpReceiver) -> None:
    env = {"PD_KEY": "routing-key-1", "SLACK_URL": f"{receiver.url}/slack"}
    worker = DeliveryWorker(engine=engine, catalog=catalog, clock=clock, env=env)
    steps = worker.deliver_until_idle()
    assert all(step.action == "sent" for step in steps), steps


def test_a_page_its_acknowledgement_and_its_resolve_reach_pagerduty_and_slack(
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
    receiver: HttpReceiver,
) -> None:
    for _ in range(4):
        fn_error(emit)
    router.drain()
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    alert = only_alert(engine)
    assert [(r.channel, r.idempotency_key) for r in outbox(engine)] == [
        ("pager", f"alert-{alert.id}-1"),
        ("ops-slack", f"alert-{alert.id}-1"),
    ]
    deliver(engine, catalog, clock, receiver)
    [page] = [r.json() for r in receiver.received("/v2/enqueue")]
    summary = "[FIRING] 4 high/critical function errors on backend in 10 min"
    assert page["routing_key"] == "routing-key-1"
    assert page["event_action"] == "trigger"
    assert page["dedup_key"] == alert.fingerprint
    assert page["payload"]["summary"] == summary
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["component"] == "backend"
    assert page["payload"]["group"] == "backend-fn-errors"
    assert page["payload"]["class"] == "event_rate"
    details: dict[str, Any] = page["payload"]["custom_details"]
    assert details["alert_id"] == alert.id
    assert details["labels"] == {"system": "backend"}
    assert f"ct alerts ack {alert.id}" in details["text"]
    runbook = "https://runbooks.swan-recruitment.co.uk/control-tower/backend-fn-errors"
    assert page["links"] == [{"href": runbook, "text": "Runbook"}]
    [slack] = [r.json() for r in receiver.received("/slack")]
    assert slack["text"] == summary

    with unit_of_work(engine) as conn:
        service.acknowledge(
            conn, catalog, alert.id, actor="operator-user", comment="on it", now=clock.now()
        )
    deliver(engine, catalog, clock, receiver)
    clock.advance(timedelta(minutes=15))
    evaluate(engine, catalog, clock)  # quiet window: resolved, and group_interval has passed
    notify(engine, catalog, clock)  # nothing more is due: nothing is queued twice
    deliver(engine, catalog, clock, receiver)

    pages = [r.json() for r in receiver.received("/v2/enqueue")]
    assert [p["event_action"] for p in pages] == ["trigger", "acknowledge", "resolve"]
    assert {p["dedup_key"] for p in pages} == {alert.fingerprint}
    titles = [r.json()["text"] for r in receiver.received("/slack")]
    assert [t.split("]")[0] for t in titles] == ["[FIRING", "[ACKNOWLEDGED", "[RESOLVED"]
    assert len(outbox(engine)) == 6
    assert {r.status for r in outbox(engine)} == {"sent"}
