"""The weekly trend: shares of business time per status and objective from the status history,
errors and failed runs from the rollups, the change against the week before, and taxonomy
drift (ingest's refusals per producer and reason; declared types never seen)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import ingest_refusals
from control_tower.reports.schemas import SystemWeek, WeeklyTrend
from control_tower.reports.weekly import build_weekly
from control_tower.routing.router import Router
from tests.helpers import Emit, Producer, make_event
from tests.reports.conftest import LINKS, LONDON, london, reason, status_history

W48 = date(2026, 11, 23)  # Monday of 2026-W48 (GMT: London is UTC all week)


def trend(engine: Engine, catalog: Catalog, monday: date) -> WeeklyTrend:
    with unit_of_work(engine, write=False) as conn:
        return build_weekly(conn, catalog, monday, LINKS)


def system(t: WeeklyTrend, system_id: str) -> SystemWeek:
    return {s.system_id: s for s in t.systems}[system_id]


def both(status: str, errors: str = "green") -> list[dict[str, object]]:
    return [reason("heartbeat_gap", status), reason("errors_24h", errors)]


def test_shares_of_business_time_and_objectives_come_from_the_status_history(
    engine: Engine, catalog: Catalog
) -> None:
    status_history(engine, "portal", [
        (london(2026, 11, 20, 9), "unknown", "green", both("green")),  # Friday of W47
        (london(2026, 11, 24, 8), "green", "amber", both("amber")),  # Tuesday: 5 h amber
        (london(2026, 11, 24, 13), "amber", "green", both("green")),
        (london(2026, 11, 25, 10), "green", "red", both("green", "red")),  # Wednesday: 2 h red
        (london(2026, 11, 25, 12), "red", "green", both("green")),
        (london(2026, 11, 28, 10), "green", "red", both("green", "red")),  # Saturday: no
        (london(2026, 11, 29, 20), "red", "green", both("green")),  # business time
    ])  # fmt: skip

    t = trend(engine, catalog, W48)

    assert (t.week, t.previous_week) == ("2026-W48", "2026-W47")
    portal = system(t, "portal")
    assert portal.business_hours == 50
    assert portal.shares.model_dump() == {"green": 0.86, "amber": 0.1, "red": 0.04,
                                          "unknown": 0.0}  # fmt: skip
    # W47: unknown until Friday 09:00 (41 business hours), then green (9).
    assert portal.previous_shares.model_dump() == {"green": 0.18, "amber": 0.0, "red": 0.0,
                                                   "unknown": 0.82}  # fmt: skip
    assert portal.green_change == 0.68
    objectives = {o.objective: (o.compliance, o.previous, o.change) for o in portal.objectives}
    assert objectives == {"errors_24h": (0.96, 1.0, -0.04), "heartbeat_gap": (0.9, 1.0, -0.1)}
    assert portal.link == "https://ct.swan.test/ui/systems/portal"
    # A system without history is unknown all week.
    assert system(t, "website").shares.unknown == 1.0
    assert system(t, "website").objectives == []


def test_a_week_with_bank_holidays_has_less_business_time(engine: Engine, catalog: Catalog) -> None:
    # 2026-W53: Monday 28 December (Boxing Day, substitute) and Friday 1 January are bank
    # holidays in England and Wales: three business days of 10 hours.
    t = trend(engine, catalog, date(2026, 12, 28))
    assert t.week == "2026-W53"
    assert system(t, "backend").business_hours == 30
    assert t.period.hours == 7 * 24


def test_errors_and_failed_runs_against_the_week_before(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(london(2026, 12, 1, 8))
    for day, n in ((london(2026, 11, 18, 10), 1), (london(2026, 11, 25, 10), 3)):
        for i in range(n):
            emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "low"},
                 occurred_at=day + timedelta(minutes=i))  # fmt: skip
    for day, status in ((london(2026, 11, 24, 9), "failed"), (london(2026, 11, 24, 10), "success"),
                        (london(2026, 11, 17, 9), "success")):  # fmt: skip
        emit("ct.run.completed", "ct",
             {"run_id": f"r-{day.day}-{day.hour}", "trigger": "portal.notify.retry",
              "status": status}, occurred_at=day)  # fmt: skip
    router.drain()

    t = trend(engine, catalog, W48)

    backend, portal = system(t, "backend"), system(t, "portal")
    assert (backend.errors, backend.previous_errors) == (3, 1)
    assert (portal.failed_runs, portal.previous_failed_runs) == (1, 0)
    assert "portal.notify.retry" not in {s.system_id for s in t.systems}


def test_taxonomy_drift_counts_refusals_per_producer_and_reason(
    engine: Engine, catalog: Catalog, client: TestClient, producer: Producer, router: Router,
    clock: FrozenClock,
) -> None:  # fmt: skip
    def post(path: str, value: object, status: int) -> None:
        body, headers = producer.signed(value)
        assert client.post(path, content=body, headers=headers).status_code == status

    unknown = make_event("finance.refund.issued", payload={"refund_id": "r-1"})
    post("/events", unknown, 422)
    post("/events", make_event(payload={"severity": "high"}), 422)  # no fn_name
    post("/events", make_event("portal.upload.received", "portal",
                               payload={"contractor_id": "c", "file_ref": "f"}), 403)  # fmt: skip
    post("/events", make_event("portal.upload.received", "backend",
                               payload={"contractor_id": "c", "file_ref": "f"}), 422)  # fmt: skip
    batch = [make_event("finance.refund.issued", payload={}) for _ in range(2)]
    post("/events/batch", {"events": [*batch, make_event()]}, 200)
    router.drain()

    today = clock.now().astimezone(LONDON).date()
    t = trend(engine, catalog, today - timedelta(days=today.weekday()))

    drift = t.taxonomy
    assert [(r.producer, r.source, r.reason, r.event_type, r.count) for r in drift.refused] == [
        ("backend-producer", "backend", "unknown_type", "finance.refund.issued", 3),
        ("backend-producer", "backend", "wrong_source", "portal.upload.received", 2),
        ("backend-producer", "backend", "payload_invalid", "backend.fn.error", 1),
    ]  # fmt: skip
    assert drift.refused_total == 6
    assert "backend.fn.error" not in drift.unseen_types
    assert "website.form.submitted" in drift.unseen_types
    with unit_of_work(engine, write=False) as conn:
        buckets = set(conn.execute(select(ingest_refusals.c.bucket_start)).scalars())
    assert buckets == {clock.now().replace(minute=0, second=0, microsecond=0)}
