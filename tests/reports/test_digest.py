"""The daily digest: what it counts for a London calendar day (24, 23 and 25 hours long),
statuses and breaches from the status history, the same bytes every time, on both stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from control_tower.audit import chain
from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health import service as health
from control_tower.kit.clock import FrozenClock
from control_tower.models import event_routes
from control_tower.reports import service
from control_tower.reports.digest import build_digest
from control_tower.reports.document import to_markdown
from control_tower.reports.rollups import REBUILD
from control_tower.reports.schemas import DailyDigest
from control_tower.reports.writing import digest_blocks
from control_tower.routing.router import Router
from control_tower.runs import service as runs
from control_tower.runs.lifecycle import record_transition
from control_tower.runs.schemas import RunStatus
from tests.helpers import Emit
from tests.reports.conftest import LINKS, london, reason, status_history

THURSDAY = date(2026, 11, 26)


def digest(engine: Engine, catalog: Catalog, day: date) -> DailyDigest:
    with unit_of_work(engine, write=False) as conn:
        return build_digest(conn, catalog, day, LINKS)


def markdown(d: DailyDigest) -> str:
    return to_markdown(digest_blocks(d))


def counts(d: DailyDigest) -> dict[str, int]:
    return {c.key: c.count for c in d.events.by_type}


def upload(emit: Emit, at: datetime) -> str:
    return emit("portal.upload.received", "portal", {"contractor_id": "c-1", "file_ref": "f"},
                occurred_at=at)  # fmt: skip


def failed_run(engine: Engine, catalog: Catalog, at: datetime, reason: str) -> str:
    caller = runs.Caller("op", Role.operator)
    with unit_of_work(engine) as conn:
        run_id = runs.start_run(conn, catalog, "portal.notify.retry", {"upload_id": f"u-{at}"},
                                caller=caller, now=at).run_id  # fmt: skip
        record_transition(conn, catalog, run_id=run_id, trigger="portal.notify.retry",
                          from_status=RunStatus.queued, to_status=RunStatus.failed,
                          at=at + timedelta(minutes=5), actor="worker", reason=reason)  # fmt: skip
    return run_id


def test_an_ordinary_day_counts_from_local_midnight_to_midnight(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(london(2026, 11, 27, 8))
    upload(emit, london(2026, 11, 25, 23, 59, 59))  # the day before
    upload(emit, london(2026, 11, 26, 0, 0))
    upload(emit, london(2026, 11, 26, 23, 59, 59) + timedelta(microseconds=999_999))
    upload(emit, london(2026, 11, 27, 0, 0))  # the day after
    noon = london(2026, 11, 26, 12)
    for fn, severity in (("gen_invoice", "high"), ("gen_invoice", "high"), ("sync", "low"),
                         ("sync", "critical")):  # fmt: skip
        emit("backend.fn.error", "backend", {"fn_name": fn, "severity": severity},
             occurred_at=noon)  # fmt: skip
    for n, repo in enumerate(("swan/backend", "swan/backend", "swan/portal")):
        emit("ci.workflow.failed", "github", {"repo": repo, "run_id": 100 + n, "job": "test",
             "url": f"https://github.com/{repo}/actions/runs/{100 + n}"},
             occurred_at=noon + timedelta(minutes=n))  # fmt: skip
    for before, after in (("sent", "paid"), ("sent", "paid"), ("sent", "failed")):
        emit("finance.payment.webhook", "finance",
             {"invoice_id": "INV-1", "status_before": before, "status_after": after},
             occurred_at=noon)  # fmt: skip
    for amount, currency in ((12_345, "GBP"), (1, "GBP"), (999, "EUR")):
        money = {"amount_minor": amount, "currency": currency}
        emit("finance.invoice.generated", "finance",
             {"invoice_id": f"INV-{amount}", "period": "2026-11", "total": money, "vat": money},
             occurred_at=noon)  # fmt: skip
    router.drain()
    failed = failed_run(engine, catalog, london(2026, 11, 26, 10), "target refused: HTTP 400")
    failed_run(engine, catalog, london(2026, 11, 25, 10), "the day before")

    d = digest(engine, catalog, THURSDAY)

    assert d.period.hours == 24
    assert (d.period.start_at, d.period.end_at) == (
        datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))  # fmt: skip
    assert counts(d)["portal.upload.received"] == 2
    # The failed runs' own ct.run.* events count too (emitted by the run lifecycle).
    assert d.events.total == sum(counts(d).values())
    errors = d.failures.fn_errors
    assert errors.total == 4
    assert [(c.key, c.count) for c in errors.by_severity] == [("critical", 1), ("high", 2),
                                                              ("low", 1)]  # fmt: skip
    assert [(e.fn_name, e.severity, e.count) for e in errors.by_function] == [
        ("gen_invoice", "high", 2), ("sync", "critical", 1), ("sync", "low", 1)]  # fmt: skip
    assert [(r.repo, r.count) for r in d.failures.ci] == [("swan/backend", 2), ("swan/portal", 1)]
    assert d.failures.ci[0].latest[0].url == "https://github.com/swan/backend/actions/runs/101"
    assert [(r.run_id, r.reason) for r in d.failures.failed_runs] == [
        (failed, "target refused: HTTP 400")]  # fmt: skip
    assert d.failures.failed_runs[0].link == f"https://ct.swan.test/runs/{failed}"
    assert [(t.status_before, t.status_after, t.count) for t in d.payments.transitions] == [
        ("sent", "paid", 2), ("sent", "failed", 1)]  # fmt: skip
    totals = {i.currency: (i.invoices, i.total.amount_minor) for i in d.payments.invoices}
    assert totals == {"EUR": (1, 999), "GBP": (2, 12_346)}
    assert isinstance(d.payments.invoices[0].total.amount_minor, int)
    body = service.json_bytes(d).decode()
    assert '"amount_minor": 12346' in body
    assert "123.46 GBP" in markdown(d)


def test_the_spring_forward_day_lasts_23_hours(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(london(2026, 3, 30, 8))
    upload(emit, london(2026, 3, 28, 23, 59))
    upload(emit, london(2026, 3, 29, 0, 0))  # 00:00 GMT = 00:00 UTC
    upload(emit, london(2026, 3, 29, 23, 59))  # 23:59 BST = 22:59 UTC
    upload(emit, london(2026, 3, 30, 0, 0))  # 00:00 BST = 23:00 UTC on the 29th
    router.drain()

    d = digest(engine, catalog, date(2026, 3, 29))

    assert d.period.hours == 23
    assert d.period.start_at == datetime(2026, 3, 29, 0, tzinfo=UTC)
    assert d.period.end_at == datetime(2026, 3, 29, 23, tzinfo=UTC)
    assert d.period.start_local == "2026-03-29T00:00:00+00:00"
    assert d.period.end_local == "2026-03-30T00:00:00+01:00"
    assert counts(d) == {"portal.upload.received": 2}
    assert "(23 hours)" in markdown(d)


def test_the_fall_back_day_lasts_25_hours_and_counts_both_half_past_ones(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(london(2026, 10, 26, 8))
    upload(emit, london(2026, 10, 24, 23, 59))
    upload(emit, london(2026, 10, 25, 0, 0))  # 00:00 BST = 23:00 UTC on the 24th
    upload(emit, london(2026, 10, 25, 1, 30))  # 01:30 BST = 00:30 UTC
    upload(emit, london(2026, 10, 25, 1, 30, fold=1))  # 01:30 GMT = 01:30 UTC
    upload(emit, london(2026, 10, 25, 23, 59))  # 23:59 GMT = 23:59 UTC
    upload(emit, london(2026, 10, 26, 0, 0))
    router.drain()

    d = digest(engine, catalog, date(2026, 10, 25))

    assert d.period.hours == 25
    assert d.period.start_at == datetime(2026, 10, 24, 23, tzinfo=UTC)
    assert d.period.end_at == datetime(2026, 10, 26, 0, tzinfo=UTC)
    assert counts(d) == {"portal.upload.received": 4}


def test_a_bank_holiday_is_a_day_like_any_other_but_its_silence_breaks_no_objective(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    # Monday 31 August 2026 is the summer bank holiday in England and Wales: the backend's
    # last heartbeat at 17:55 on Friday turns it amber only on Tuesday morning, when 5
    # business minutes on Friday and 10 after 08:00 on Tuesday make the 15 of its objective.
    friday = london(2026, 8, 28, 17, 55)
    clock.set(friday)
    emit("system.heartbeat", "backend", {"system_id": "backend"}, occurred_at=friday)
    router.drain()
    for now in (friday, london(2026, 8, 31, 10), london(2026, 8, 31, 16),
                london(2026, 9, 1, 8, 15), london(2026, 9, 1, 8, 40)):  # fmt: skip
        with unit_of_work(engine) as conn:
            health.record_status_changes(conn, catalog, now)

    holiday = digest(engine, catalog, date(2026, 8, 31))
    tuesday = digest(engine, catalog, date(2026, 9, 1))

    backend = {s.system_id: s for s in holiday.systems}["backend"]
    assert (backend.status_at_start.value, backend.status_at_end.value) == ("green", "green")
    assert backend.changes == []
    assert holiday.slo_breaches == []
    after = {s.system_id: s for s in tuesday.systems}["backend"]
    assert [(c.from_status.value, c.to_status.value) for c in after.changes] == [
        ("green", "amber"), ("amber", "red")]  # fmt: skip
    [breach] = [b for b in tuesday.slo_breaches if b.objective == "heartbeat_gap"]
    assert (breach.system_id, breach.worst_status.value) == ("backend", "red")
    assert breach.first_at == london(2026, 9, 1, 8, 15)


def test_statuses_and_breaches_come_from_the_status_history(
    engine: Engine, catalog: Catalog
) -> None:
    status_history(engine, "portal", [
        (london(2026, 11, 25, 9), "unknown", "red", [reason("heartbeat_gap", "red", "silent")]),
        (london(2026, 11, 26, 9), "red", "amber", [reason("errors_24h", "amber", "4 errors")]),
        (london(2026, 11, 26, 11), "amber", "green", [reason("errors_24h", "green")]),
        (london(2026, 11, 27, 0), "green", "red", [reason("errors_24h", "red")]),
    ])  # fmt: skip

    d = digest(engine, catalog, THURSDAY)

    portal = {s.system_id: s for s in d.systems}["portal"]
    assert (portal.status_at_start.value, portal.status_at_end.value) == ("red", "green")
    assert [c.at for c in portal.changes] == [london(2026, 11, 26, 9), london(2026, 11, 26, 11)]
    assert portal.link == "https://ct.swan.test/ui/systems/portal"
    assert [(b.objective, b.worst_status.value, b.first_at, b.message) for b in d.slo_breaches] == [
        ("errors_24h", "amber", london(2026, 11, 26, 9), "4 errors"),
        ("heartbeat_gap", "red", london(2026, 11, 26, 0), "silent"),  # carried into the day
    ]  # fmt: skip
    assert {s.system_id for s in d.systems} == {s.id for s in catalog.systems}


def test_dead_letters_and_the_audit_head_are_as_at_the_end_of_the_day(
    engine: Engine, catalog: Catalog
) -> None:
    def dead(event_id: str, seq: int, at: datetime) -> dict[str, Any]:
        return {"event_id": event_id, "seq": seq, "status": "dead", "attempts": 5,
                "available_at": at, "updated_at": at, "last_error": "boom"}  # fmt: skip

    with unit_of_work(engine) as conn:
        conn.execute(event_routes.insert(), [
            dead("d-1", 1, london(2026, 11, 20, 9)), dead("d-2", 2, london(2026, 11, 26, 9)),
            dead("d-3", 3, london(2026, 11, 27, 9)),
        ])  # fmt: skip
        first = chain.append(conn, at=london(2026, 11, 26, 12), actor="t", action="x", target="y")
        chain.append(conn, at=london(2026, 11, 27, 1), actor="t", action="x", target="z")

    d = digest(engine, catalog, THURSDAY)

    assert (d.dlq.depth_at_end, d.dlq.died_during) == (2, 1)
    assert d.dlq.link == "https://ct.swan.test/ui/dlq"
    assert d.audit_head is not None
    assert d.audit_head.seq == first
    assert d.alerts.model_dump() == {"fired": 0, "acknowledged": 0, "resolved": 0}


def test_the_same_day_gives_the_same_bytes_even_after_a_rebuild(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(london(2026, 11, 27, 8))
    for minute in range(0, 600, 7):
        emit("backend.fn.error", "backend", {"fn_name": f"fn{minute % 3}", "severity": "low"},
             occurred_at=london(2026, 11, 26, 8) + timedelta(minutes=minute))  # fmt: skip
    upload(emit, london(2026, 11, 26, 9))
    router.drain()
    with unit_of_work(engine, write=False) as conn:
        first = service.render_daily(conn, catalog, THURSDAY, LINKS)
        second = service.render_daily(conn, catalog, THURSDAY, LINKS)
    with unit_of_work(engine) as conn:
        health.rebuild(conn, catalog, parts=[REBUILD])
    with unit_of_work(engine, write=False) as conn:
        rebuilt = service.render_daily(conn, catalog, THURSDAY, LINKS)
    assert first.json == second.json == rebuilt.json
    assert first.markdown == second.markdown == rebuilt.markdown
    assert b"generated" not in first.json
