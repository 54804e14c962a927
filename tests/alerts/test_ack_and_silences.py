"""Acknowledging and silencing, through the API: who may, what it stops, what the audit chain
keeps, and that an expired or deleted silence lets the page through."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.audit import chain
from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log
from control_tower.routing.router import Router
from tests.alerts.helpers import evaluate, fn_error, notify, only_alert, sent
from tests.helpers import Emit, Staff, assert_error, iso

OPERATOR, VIEWER = Role.operator, Role.viewer


def fire(emit: Emit, router: Router) -> None:
    """The default rule's alert: four high errors, routed."""
    for _ in range(4):
        fn_error(emit)
    router.drain()


def audited(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action)))


def test_ack_stops_reminders_tells_the_pager_and_is_audited(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    fire(emit, router)
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    alert_id = only_alert(engine).id
    path = f"/alerts/{alert_id}/ack"

    assert_error(client.post(path, headers=staff.headers(VIEWER)), 403, "insufficient_role")
    answer = client.post(path, json={"comment": "on it"}, headers=staff.headers(OPERATOR))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "operator-user"
    assert body["acknowledged_at"] == iso(clock.now())
    assert sent(engine) == ["trigger", "acknowledge"]  # at once, in the ack's transaction

    [row] = audited(engine, "alert.acknowledged")
    assert (row.actor, row.target) == ("operator-user", f"alert:{alert_id}")
    assert row.details["comment"] == "on it"
    with engine.connect() as conn:
        assert chain.verify(conn).ok

    clock.advance(timedelta(hours=5))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger", "acknowledge"]  # no reminder once acknowledged
    again = client.post(path, headers=staff.headers(OPERATOR))
    assert_error(again, 409, "already_acknowledged")

    evaluate(engine, catalog, clock)  # the window is quiet: resolved, and the pager hears it
    assert sent(engine) == ["trigger", "acknowledge", "resolve"]
    assert_error(client.post(path, headers=staff.headers(OPERATOR)), 409, "alert_resolved")
    assert_error(client.post("/alerts/999/ack", headers=staff.headers(OPERATOR)), 404)


def test_an_ack_before_the_first_page_means_no_page_at_all(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    fire(emit, router)
    alert_id = only_alert(engine).id
    answer = client.post(f"/alerts/{alert_id}/ack", headers=staff.headers(OPERATOR))
    assert answer.status_code == 200, answer.text
    clock.advance(timedelta(minutes=20))
    notify(engine, catalog, clock)
    evaluate(engine, catalog, clock)
    assert only_alert(engine).state == "resolved"
    assert sent(engine) == []


def test_listing_and_reading_alerts(
    client: TestClient, staff: Staff, engine: Engine, emit: Emit, router: Router
) -> None:
    fire(emit, router)
    alert_id = only_alert(engine).id
    firing = client.get("/alerts", params={"state": "firing"}, headers=staff.headers(VIEWER))
    assert firing.status_code == 200, firing.text
    assert [a["id"] for a in firing.json()["items"]] == [alert_id]
    resolved = client.get("/alerts?state=resolved", headers=staff.headers(VIEWER))
    assert resolved.json() == {"items": [], "next_cursor": None}
    assert_error(client.get("/alerts?state=sleeping", headers=staff.headers(VIEWER)), 422)

    one = client.get(f"/alerts/{alert_id}", headers=staff.headers(VIEWER))
    assert one.status_code == 200, one.text
    detail = one.json()
    assert detail["rule"] == "backend-fn-errors"
    assert detail["runbook_url"].startswith("https://")
    assert detail["labels"] == {"system": "backend"}
    assert [e["kind"] for e in detail["events"]] == ["fired"]
    assert_error(client.get("/alerts/999", headers=staff.headers(VIEWER)), 404, "not_found")


def silence(client: TestClient, staff: Staff, **body: Any) -> dict[str, Any]:
    answer = client.post("/silences", json=body, headers=staff.headers(OPERATOR))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


@pytest.mark.parametrize(
    "matchers",
    [{"rule": "backend-fn-errors"}, {"system": "backend"}, {"rule": "backend-fn-errors",
                                                              "system": "backend"}],
)  # fmt: skip
def test_a_silence_holds_the_page_until_it_expires(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
    matchers: dict[str, str],
) -> None:
    start = clock.now()
    created = silence(client, staff, **matchers, duration="1h", comment="deploying")
    assert created["state"] == "active"
    assert created["ends_at"] == iso(start + timedelta(hours=1))
    [row] = audited(engine, "silence.created")
    assert (row.actor, row.target) == ("operator-user", f"silence:{created['id']}")

    fire(emit, router)
    for minutes in (1, 30, 59):
        clock.set(start + timedelta(minutes=minutes))
        fn_error(emit)  # keeps firing
        router.drain()
        notify(engine, catalog, clock)
    assert sent(engine) == []
    listed = client.get("/alerts", headers=staff.headers(VIEWER)).json()["items"]
    assert listed[0]["silenced_by"] == [created["id"]]

    clock.set(start + timedelta(hours=1))  # the silence ends: the page goes out
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]
    silences = client.get("/silences", headers=staff.headers(VIEWER)).json()["items"]
    assert silences == []
    ended = client.get("/silences?include_ended=true", headers=staff.headers(VIEWER))
    assert [s["state"] for s in ended.json()["items"]] == ["expired"]


def test_a_silence_of_another_system_or_rule_does_not_hold_it(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    silence(client, staff, system="portal", duration="1h", comment="portal work")
    silence(client, staff, rule="backend-fn-errors", system="portal", duration="1h", comment="x")
    fire(emit, router)
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]


def test_deleting_a_silence_lets_the_page_through_and_is_audited(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    created = silence(client, staff, rule="backend-fn-errors", duration="2h", comment="deploy")
    fire(emit, router)
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == []
    path = f"/silences/{created['id']}"
    assert_error(client.delete(path, headers=staff.headers(VIEWER)), 403)
    deleted = client.delete(path, headers=staff.headers(OPERATOR))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["state"] == "deleted"
    assert deleted.json()["deleted_by"] == "operator-user"
    [row] = audited(engine, "silence.deleted")
    assert row.target == f"silence:{created['id']}"
    assert_error(client.delete(path, headers=staff.headers(OPERATOR)), 409, "silence_deleted")
    assert_error(client.delete("/silences/999", headers=staff.headers(OPERATOR)), 404)
    clock.advance(timedelta(seconds=10))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]


def test_a_silence_never_holds_back_the_resolve_of_a_page_already_sent(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    fire(emit, router)
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    silence(client, staff, rule="backend-fn-errors", duration="1d", comment="known issue")
    clock.advance(timedelta(minutes=15))
    evaluate(engine, catalog, clock)
    assert sent(engine) == ["trigger", "resolve"]


def test_a_silence_that_starts_later_holds_nothing_yet(
    client: TestClient,
    staff: Staff,
    engine: Engine,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    catalog: Catalog,
) -> None:
    later = clock.now() + timedelta(hours=1)
    created = silence(
        client, staff, rule="backend-fn-errors", starts_at=iso(later), duration="1h", comment="x"
    )
    assert created["state"] == "pending"
    fire(emit, router)
    clock.advance(timedelta(seconds=30))
    notify(engine, catalog, clock)
    assert sent(engine) == ["trigger"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration": "1h", "comment": "no matcher"}, "body.rule"),
        ({"rule": "nope", "duration": "1h", "comment": "x"}, "body.rule"),
        ({"system": "nope", "duration": "1h", "comment": "x"}, "body.system"),
        ({"rule": "backend-fn-errors", "comment": "no end"}, "body.ends_at"),
        ({"rule": "backend-fn-errors", "duration": "1h", "ends_at": "2030-01-01T00:00:00Z",
          "comment": "both"}, "body.ends_at"),
        ({"rule": "backend-fn-errors", "duration": "91d", "comment": "too long"}, "body.ends_at"),
        ({"rule": "backend-fn-errors", "duration": "soon", "comment": "x"}, "body.duration"),
        ({"rule": "backend-fn-errors", "duration": "99999999999999w", "comment": "x"},
         "body.duration"),
        ({"rule": "backend-fn-errors", "starts_at": "9999-12-29T00:00:00Z", "duration": "30d",
          "comment": "x"}, "body.duration"),
        ({"rule": "backend-fn-errors", "duration": "1h"}, "body.comment"),
        ({"rule": "backend-fn-errors", "duration": "1h", "comment": "x", "extra": 1},
         "body.extra"),
    ],
)  # fmt: skip
def test_bad_silences_are_refused_with_the_field(
    client: TestClient, staff: Staff, engine: Engine, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/silences", json=body, headers=staff.headers(OPERATOR))
    error = assert_error(answer, 422, "validation_failed")
    assert field in [d["field"] for d in error["details"]], error
    assert audited(engine, "silence.created") == []


def test_a_silence_that_ended_already_is_refused(
    client: TestClient, staff: Staff, clock: FrozenClock
) -> None:
    past = iso(clock.now() - timedelta(minutes=1))
    body = {"rule": "backend-fn-errors", "ends_at": past, "comment": "x"}
    answer = client.post("/silences", json=body, headers=staff.headers(OPERATOR))
    assert_error(answer, 422, "validation_failed")
