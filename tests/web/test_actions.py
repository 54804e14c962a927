"""Operator actions from the UI: each enforced on the server by role, CSRF- and origin-checked,
and audited as the signed-in person."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.auth.roles import Role
from control_tower.catalog import load_default_catalog
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log, event_routes, runs
from control_tower.reports.links import Links
from control_tower.reports.periods import week_name
from control_tower.reports.tasks import make_report
from control_tower.routing.router import Router
from control_tower.settings import Settings
from tests.helpers import Emit, Staff
from tests.web.test_ui import SAME_ORIGIN, csrf_of, sign_in

TRIGGER = "contract.regenerate"


def audit_rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        query = select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)
        return [tuple(r) for r in conn.execute(query.order_by(audit_log.c.seq))]  # type: ignore[misc]


def post(client: TestClient, url: str, csrf: str, **fields: str) -> int:
    answer = client.post(url, data={"csrf": csrf, **fields}, headers=SAME_ORIGIN,
                         follow_redirects=False)  # fmt: skip
    return answer.status_code


def test_operator_previews_then_confirms_a_trigger_and_acts_on_the_run(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    sign_in(client, staff.tokens[Role.operator].token)
    form = client.get(f"/ui/triggers/{TRIGGER}").text
    assert 'name="in_contract_id"' in form
    assert "required" in form
    csrf = csrf_of(form)
    preview = client.post(f"/ui/triggers/{TRIGGER}", data={"csrf": csrf, "in_contract_id": "K-9",
                          "in_reason": "customer asked"}, headers=SAME_ORIGIN)  # fmt: skip
    assert preview.status_code == 200
    assert "Confirm and run" in preview.text
    assert "/ct/actions/contract.regenerate" in preview.text
    with engine.connect() as conn:
        assert conn.execute(select(runs)).first() is None  # a dry run writes nothing
    key = re.search(r'name="idempotency_key" value="([^"]+)"', preview.text)
    assert key is not None
    fields = {"in_contract_id": "K-9", "in_reason": "customer asked", "idempotency_key": key[1]}
    confirm = client.post(f"/ui/triggers/{TRIGGER}/run", data={"csrf": csrf, **fields},
                          headers=SAME_ORIGIN, follow_redirects=False)  # fmt: skip
    assert confirm.status_code == 303
    run_id = confirm.headers["location"].rsplit("/", 1)[1]
    again = client.post(f"/ui/triggers/{TRIGGER}/run", data={"csrf": csrf, **fields},
                        headers=SAME_ORIGIN, follow_redirects=False)  # fmt: skip
    assert again.headers["location"].endswith(run_id)  # a double submit is the same run
    page = client.get(f"/ui/runs/{run_id}").text
    assert "queued" in page
    assert "operator-user" in page
    assert post(client, f"/ui/runs/{run_id}/notes", csrf, text="called the client") == 303
    assert "called the client" in client.get(f"/ui/runs/{run_id}").text
    assert post(client, f"/ui/runs/{run_id}/cancel", csrf) == 303
    assert 'data-status="cancelled"' in client.get(f"/ui/runs/{run_id}").text
    done = [(actor, action) for actor, action, target in audit_rows(engine)
            if target == f"run:{run_id}"]  # fmt: skip
    assert ("operator-user", "run.triggered") in done
    assert ("operator-user", "run.note_added") in done
    assert any(actor == "operator-user" and "cancel" in action for actor, action in done)


def test_bad_inputs_are_named_on_the_form(client: TestClient, staff: Staff) -> None:
    sign_in(client, staff.tokens[Role.operator].token)
    csrf = csrf_of(client.get(f"/ui/triggers/{TRIGGER}").text)
    answer = client.post(f"/ui/triggers/{TRIGGER}", data={"csrf": csrf, "in_reason": "x"},
                         headers=SAME_ORIGIN)  # fmt: skip
    assert answer.status_code == 422
    assert "inputs.contract_id" in answer.text
    assert 'name="in_reason"' in answer.text


def test_a_viewer_sees_no_action_and_a_forged_post_is_refused(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    sign_in(client, staff.tokens[Role.viewer].token)
    page = client.get("/ui/runs").text
    assert "Run a trigger" not in page
    assert page.count("<form") == 1  # sign out only
    csrf = csrf_of(page)
    forged = client.post(f"/ui/triggers/{TRIGGER}/run", data={"csrf": csrf, "in_contract_id": "K"},
                         headers=SAME_ORIGIN, follow_redirects=False)  # fmt: skip
    assert forged.status_code == 403
    assert client.get("/ui/exceptions").status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(runs)).first() is None


def test_a_form_without_its_csrf_token_or_from_elsewhere_is_refused(
    client: TestClient, staff: Staff
) -> None:
    sign_in(client, staff.tokens[Role.operator].token)
    csrf = csrf_of(client.get("/ui/runs").text)
    url = f"/ui/triggers/{TRIGGER}/run"
    assert client.post(url, data={"in_contract_id": "K"}, headers=SAME_ORIGIN).status_code == 403
    foreign = {"Origin": "https://evil.example"}
    assert client.post(url, data={"csrf": csrf, "in_contract_id": "K"},
                       headers=foreign).status_code == 403  # fmt: skip


def test_a_maintainer_replays_a_dead_letter(
    client: TestClient,
    staff: Staff,
    emit: Emit,
    router: Router,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    dead = emit("system.heartbeat", "backend", {"system_id": "no-such-system"})
    for _ in range(4):  # the router tries three times, then gives up
        router.drain()
        clock.advance(timedelta(minutes=5))
    sign_in(client, staff.tokens[Role.maintainer].token)
    page = client.get("/ui/exceptions").text
    assert dead in page
    assert "Replay" in page
    assert post(client, f"/ui/dlq/{dead}/replay", csrf_of(page)) == 303
    with engine.connect() as conn:
        status = conn.execute(
            select(event_routes.c.status).where(event_routes.c.event_id == dead)
        ).scalar_one()
    assert status == "pending"
    assert ("maintainer-user", "dlq.replayed", f"event:{dead}") in audit_rows(engine)


def test_alerts_and_reports_pages_and_a_silence(
    client: TestClient, staff: Staff, engine: Engine
) -> None:
    sign_in(client, staff.tokens[Role.operator].token)
    page = client.get("/ui/alerts")
    assert page.status_code == 200
    assert 'href="/ui/alerts"' in page.text  # the navigation links it
    answer = post(client, "/ui/silences", csrf_of(page.text), system="backend",
                  duration="2h", comment="deploying the backend")  # fmt: skip
    assert answer == 303
    assert "deploying the backend" in client.get("/ui/alerts").text
    assert any(a == ("operator-user",) or (a[0] == "operator-user" and "silence" in a[1])
               for a in audit_rows(engine))  # fmt: skip
    reports = client.get("/ui/reports")
    assert reports.status_code == 200
    assert "the archive is empty" in reports.text
    assert client.get("/ui/reports/daily/2020-01-01").status_code == 404


def test_the_weekly_trend_page_draws_its_charts(
    client: TestClient, staff: Staff, engine: Engine, settings: Settings, clock: FrozenClock
) -> None:
    catalog = load_default_catalog()
    today = clock.now().astimezone(ZoneInfo("Europe/London")).date()
    week = week_name(today - timedelta(days=today.weekday() + 7))
    make_report(engine, catalog, "weekly", week, links=Links(), data_dir=settings.data_dir,
                now=clock.now(), send=False)  # fmt: skip
    sign_in(client, staff.tokens[Role.viewer].token)
    page = client.get(f"/ui/reports/weekly/{week}")
    assert page.status_code == 200, page.text
    assert page.text.count("<svg") == 2
    assert "<title>Share of business time by status</title>" in page.text
    assert "Errors and failed runs, this week and the week before" in page.text
    assert "Backend (cloud functions)" in page.text  # systems by name, beside the colours
    assert "<script" not in page.text
