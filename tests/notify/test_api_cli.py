"""`GET /notifications` and `ct notifications list|test`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from control_tower.auth.roles import Role
from control_tower.catalog.loader import default_catalog_text
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Staff, assert_error, cli_env
from tests.notify.helpers import FAST_RETRY, alert_message, catalog_with, queue, rows, worker
from tests.notify.receivers import Answer, HttpReceiver

SLACK = {"name": "ops-slack", "kind": "slack", "url_env": "SLACK_URL", "retry": FAST_RETRY}
HOOK = {"name": "hook", "kind": "apprise", "url_env": "HOOK_URL"}
# The default catalogue's alert rules name these channels.
CHANNELS = """
channels:
  - {name: ops-slack, kind: slack, url_env: CT_SLACK_URL}
  - {name: pager, kind: pagerduty, routing_key_env: CT_PD_KEY}
  - {name: ops-email, kind: email, host: localhost, from: ct@x.test, to: [ops@x.test]}
"""


def test_notifications_list_shows_each_attempt(
    engine: Engine, clock: FrozenClock, client: TestClient, staff: Staff, receiver: HttpReceiver
) -> None:
    catalog = catalog_with(SLACK)
    queue(engine, catalog, "ops-slack", alert_message(), now=clock.now())
    receiver.answer(Answer(500, "first"), Answer(200, "ok"))
    w = worker(engine, catalog, clock, {"SLACK_URL": receiver.url})
    first = clock.now()
    w.deliver_once()
    clock.advance(timedelta(seconds=10))
    w.deliver_once()
    answer = client.get("/notifications", headers=staff.headers(Role.maintainer))
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert item["channel"] == "ops-slack"
    assert item["kind"] == "alert"
    assert item["idempotency_key"] == "k-1"
    assert item["title"] == "backend.fn.error: 4 high errors in 10 min"
    assert item["severity"] == "critical"
    assert (item["status"], item["attempts"]) == ("sent", 2)
    log = item["attempt_log"]
    assert [(a["attempt"], a["outcome"], a["status_code"], a["detail"]) for a in log] == [
        (1, "retry", 500, "HTTP 500: first"),
        (2, "success", 200, "ok"),
    ]
    assert log[0]["at"] == first.isoformat().replace("+00:00", "Z")
    assert log[0]["worker"] == "w1"


def test_filters_and_pages(
    engine: Engine, clock: FrozenClock, client: TestClient, staff: Staff
) -> None:
    catalog = catalog_with(SLACK, HOOK)
    start = clock.now()
    for n in range(5):
        queue(engine, catalog, "ops-slack", alert_message(), now=clock.now(), key=f"s{n}")
        queue(engine, catalog, "hook", alert_message(), now=clock.now(), key=f"h{n}")
        clock.advance(timedelta(minutes=1))
    headers = staff.headers(Role.maintainer)

    def get(**params: object) -> dict[str, object]:
        answer = client.get("/notifications", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body

    keys: list[str] = []
    cursor = None
    while True:
        page = get(channel="ops-slack", limit=2, **({"cursor": cursor} if cursor else {}))
        keys += [i["idempotency_key"] for i in page["items"]]  # type: ignore[attr-defined]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert keys == ["s4", "s3", "s2", "s1", "s0"]
    since = (start + timedelta(minutes=3)).isoformat()
    recent = get(since=since)["items"]
    assert [i["idempotency_key"] for i in recent] == ["h4", "s4", "h3", "s3"]  # type: ignore[attr-defined]
    assert get(status="sent")["items"] == []
    assert len(get(status="pending")["items"]) == 10  # type: ignore[arg-type]


def test_bad_queries_and_roles(client: TestClient, staff: Staff) -> None:
    headers = staff.headers(Role.maintainer)
    assert_error(client.get("/notifications?status=lost", headers=headers), 422)
    assert_error(client.get("/notifications?since=1764150000", headers=headers), 422)
    assert_error(client.get("/notifications?cursor=nope", headers=headers), 400, "bad_cursor")
    assert_error(client.get("/notifications", headers=staff.headers(Role.operator)), 403)
    assert_error(client.get("/notifications"), 401)


def test_cli_test_queues_and_list_shows(
    database_url: str, engine: Engine, tmp_path: Path, clock: FrozenClock, receiver: HttpReceiver
) -> None:
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(default_catalog_text() + CHANNELS)
    env = {
        **cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY),
        "CT_CATALOG": str(catalog_file),
    }
    runner = CliRunner()
    queued = runner.invoke(cli, ["notifications", "test", "ops-slack"], env=env)
    assert queued.exit_code == 0, queued.output
    assert "queued a test message on ops-slack" in queued.output
    unknown = runner.invoke(cli, ["notifications", "test", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "no channel 'nope' in the catalogue (channels: ops-email, ops-slack, pager)" in (
        unknown.output
    )

    [row] = rows(engine)
    assert (row.kind, row.status) == ("test", "pending")
    catalog = catalog_with({"name": "ops-slack", "kind": "slack", "url_env": "CT_SLACK_URL"})
    clock.set(row.created_at)
    worker(engine, catalog, clock, {"CT_SLACK_URL": receiver.url}).deliver_until_idle()
    [request] = receiver.received()
    assert request.json()["text"] == "Control Tower test notification"

    listed = runner.invoke(cli, ["notifications", "list", "--json", "--status", "sent"], env=env)
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)["items"]
    assert (item["kind"], item["status"], item["attempt_log"][0]["status_code"]) == (
        "test", "sent", 200,
    )  # fmt: skip
    text = runner.invoke(cli, ["notifications", "list", "--channel", "ops-slack"], env=env)
    assert text.exit_code == 0, text.output
    assert "ops-slack" in text.output
    assert "Control Tower test notification" in text.output
    bad = runner.invoke(cli, ["notifications", "list", "--status", "lost"], env=env)
    assert bad.exit_code == 1
    assert "--status must be one of pending, sent, failed, dead" in bad.output
