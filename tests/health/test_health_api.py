"""GET /health, /systems, /systems/{id}; status history; rebuild; DLQ API, CLI and metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from control_tower.auth.roles import Role
from control_tower.catalog import Catalog
from control_tower.catalog.loader import parse_catalog
from control_tower.cli.main import app as cli_app
from control_tower.db import unit_of_work
from control_tower.health import service, slo
from control_tower.health.hooks import StatusChangeHook
from control_tower.health.schemas import HealthStatus
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log
from control_tower.routing.router import Router, RouterConfig
from control_tower.settings import Settings
from tests.helpers import Emit, Staff, new_router

THURSDAY_10 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_health_overview_and_systems(
    client: TestClient, staff: Staff, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    # The API's clock is the real one; put the events at real "now".
    clock.set(datetime.now(UTC))
    emit("system.heartbeat", "backend", {"system_id": "backend"})
    for _ in range(3):
        emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"})
    router.drain()
    body = client.get("/health", headers=staff.headers(Role.viewer)).json()
    systems = {s["system_id"]: s for s in body["systems"]}
    assert systems["backend"]["status"] == "amber"
    assert systems["backend"]["errors_24h"] == 3
    assert systems["portal"]["status"] == "unknown"
    assert body["status"] == "amber"
    amber = [r for r in systems["backend"]["reasons"] if r["status"] == "amber"]
    assert amber[0]["objective"] == "errors_24h"
    assert len(amber[0]["evidence"]) == 3
    listed = client.get("/systems", headers=staff.headers(Role.viewer)).json()
    assert [s["system_id"] for s in listed] == [s["system_id"] for s in body["systems"]]
    detail = client.get("/systems/backend", headers=staff.headers(Role.viewer))
    assert detail.status_code == 200
    assert detail.json()["sources"] == ["backend"]
    assert detail.json()["slo"]["heartbeat"]["amber_after_minutes"] == 15
    missing = client.get("/systems/nope", headers=staff.headers(Role.viewer))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_status_changes_are_recorded_once_as_history(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    emit("system.heartbeat", "backend", {"system_id": "backend"}, late=timedelta(0))
    router.drain()
    steps = [
        (THURSDAY_10, "green"),
        (THURSDAY_10 + timedelta(minutes=20), "amber"),
        (THURSDAY_10 + timedelta(minutes=21), None),  # still amber: no new row
        (THURSDAY_10 + timedelta(minutes=40), "red"),
    ]
    hook, heard = StatusChangeHook(), []
    hook.subscribe(lambda _conn, changes: heard.extend(changes))
    for now, expected in steps:
        with unit_of_work(engine) as conn:
            changed = service.record_status_changes(conn, catalog, now, hook=hook)
            again = service.record_status_changes(conn, catalog, now, hook=hook)  # a 2nd router
        assert [c.system_id for c in changed] == (["backend"] if expected else [])
        assert again == []
    # Subscribers heard each change once, as recorded.
    assert [(c.from_status.value, c.to_status.value) for c in heard] == [
        ("unknown", "green"), ("green", "amber"), ("amber", "red"),
    ]  # fmt: skip
    with unit_of_work(engine, write=False) as conn:
        detail = service.system_detail(conn, catalog, "backend", THURSDAY_10 + timedelta(hours=1))
    moves = [(c.from_status.value, c.to_status.value) for c in reversed(detail.recent_changes)]
    assert moves == [("unknown", "green"), ("green", "amber"), ("amber", "red")]
    assert detail.recent_changes[0].reasons[0].objective == "heartbeat_gap"


def test_rebuild_gives_the_same_answer(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit, router: Router
) -> None:
    clock.set(THURSDAY_10)
    emit("system.heartbeat", "backend", {"system_id": "backend"})
    emit("backend.fn.error", "backend", {"fn_name": "f", "severity": "high"}, correlation_id="r1")
    emit("portal.upload.received", "portal", {"contractor_id": "c", "file_ref": "f"},
         late=timedelta(minutes=9))  # fmt: skip
    emit("ct.run.completed", "ct", {"run_id": "r1", "trigger": "t", "status": "failed",
                                     "system_id": "finance"}, correlation_id="r1")  # fmt: skip
    router.drain()
    now = THURSDAY_10 + timedelta(minutes=20)
    with unit_of_work(engine, write=False) as conn:
        before = service.overview(conn, catalog, now).model_dump()
    with unit_of_work(engine) as conn:
        assert service.rebuild(conn, catalog) == 4
    with unit_of_work(engine, write=False) as conn:
        after = service.overview(conn, catalog, now).model_dump()
    assert after == before
    assert before["status"] == "red"


def test_dst_gap_for_a_24_7_system_is_real_time(engine: Engine, clock: FrozenClock) -> None:
    text = """
sources: [{id: ops}]
systems:
  - id: pager
    name: Pager
    sources: [ops]
    heartbeat: {amber_after_minutes: 15, red_after_minutes: 30}
    business_hours: {always: true}
event_types:
  - type: system.heartbeat
    health_signal: heartbeat
"""
    catalog = parse_catalog(text, "test")
    system = catalog.system("pager")
    assert system is not None
    from control_tower.ingest.internal import emit_events

    for change, day in (("spring", datetime(2026, 3, 29, tzinfo=UTC)),
                        ("autumn", datetime(2026, 10, 25, tzinfo=UTC))):  # fmt: skip
        last, now = day + timedelta(minutes=50), day + timedelta(minutes=70)
        clock.set(last)
        with unit_of_work(engine) as conn:
            emit_events(
                conn, catalog,
                [{"event_id": f"hb-{change}", "type": "system.heartbeat", "source": "ops",
                  "occurred_at": last.isoformat(), "payload": {"system_id": "pager"}}],
                producer="test", now=last,
            )  # fmt: skip
        new_router(engine, catalog, clock, RouterConfig()).drain()
        with unit_of_work(engine, write=False) as conn:
            ev = slo.evaluate(conn, system, now)
        why = next(r for r in ev.reasons if r.objective == "heartbeat_gap")
        assert why.measured["gap_minutes"] == 20, change  # wall clocks say 80 and -40
        assert why.status is HealthStatus.amber


def test_dlq_api_replay_is_audited_and_metrics_show_depth(
    client: TestClient, staff: Staff, engine: Engine, emit: Emit, catalog: Catalog,
    clock: FrozenClock,
) -> None:  # fmt: skip
    clock.set(datetime.now(UTC))
    bad = emit("system.heartbeat", "backend", {"system_id": "ghost"})
    emit("system.heartbeat", "backend", {"system_id": "backend"})
    metrics = client.get("/metrics", headers=staff.headers(Role.viewer)).text
    assert "ct_events_pending 2.0" in metrics  # acknowledged, not yet routed
    router = new_router(engine, catalog, clock, RouterConfig(max_attempts=1))
    assert router.drain().dead == 1
    listing = client.get("/dlq", headers=staff.headers(Role.maintainer))
    assert listing.status_code == 200
    page = listing.json()
    assert page["depth"] == 1
    assert page["items"][0]["event_id"] == bad
    assert "ghost" in page["items"][0]["last_error"]
    assert client.get("/dlq", headers=staff.headers(Role.operator)).status_code == 403
    metrics = client.get("/metrics", headers=staff.headers(Role.viewer)).text
    assert "ct_dlq_depth 1.0" in metrics
    assert "ct_events_pending 0.0" in metrics
    assert client.post(f"/dlq/{bad}/replay", headers=staff.headers(Role.viewer)).status_code == 403
    replay = client.post(f"/dlq/{bad}/replay", headers=staff.headers(Role.operator))
    assert replay.status_code == 200, replay.text
    assert replay.json() == {"replayed": [bad]}
    again = client.post(f"/dlq/{bad}/replay", headers=staff.headers(Role.operator))
    assert again.status_code == 409
    assert client.post("/dlq/none/replay", headers=staff.headers(Role.operator)).status_code == 404
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action, audit_log.c.actor))]
    assert "dlq.replayed" in actions
    assert "ct_dlq_depth 0.0" in client.get("/metrics", headers=staff.headers(Role.viewer)).text


def test_dlq_and_rebuild_cli(
    settings: Settings, engine: Engine, emit: Emit, catalog: Catalog, clock: FrozenClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    for name in ("ghost-1", "ghost-2"):
        emit("system.heartbeat", "backend", {"system_id": name}, event_id=name)
    new_router(engine, catalog, clock, RouterConfig(max_attempts=1)).drain()
    env = {
        "CT_DATABASE_URL": settings.resolved_database_url(),
        "CT_DATA_DIR": str(tmp_path),
        "CT_SECRET_KEY": "k",
    }
    runner = CliRunner(env=env)
    listed = runner.invoke(cli_app, ["dlq", "list"])
    assert listed.exit_code == 0, listed.output
    assert "DLQ depth: 2" in listed.output
    assert "ghost-1" in listed.output
    assert runner.invoke(cli_app, ["dlq", "replay"]).exit_code == 2
    replayed = runner.invoke(cli_app, ["dlq", "replay", "--all"])
    assert replayed.exit_code == 0
    assert "replayed 2" in replayed.output
    assert "DLQ depth: 0" in runner.invoke(cli_app, ["dlq", "list"]).output
    rebuilt = runner.invoke(cli_app, ["rebuild"])
    assert rebuilt.exit_code == 0
    assert "rebuilt health" in rebuilt.output
