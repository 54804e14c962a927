"""POST /triggers/{name}: queueing, 404/403/422 bodies, idempotency, dedupe window, dry run."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.auth.roles import Role
from control_tower.catalog import load_default_catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import runs
from control_tower.runs.service import Caller, start_run
from tests.helpers import Staff
from tests.runs.conftest import store_counts
from tests.runs.target_server import Target

REGENERATE = "/triggers/contract.regenerate"


def test_operator_queues_a_run(api: TestClient, staff: Staff, engine: Engine) -> None:
    response = api.post(
        REGENERATE,
        json={"inputs": {"contract_id": "C-1001"}},
        headers=staff.headers(Role.operator),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["run_id"].startswith("run-")
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.run_id == body["run_id"])).one()
    assert row.initiator == "operator-user"
    assert row.inputs == {"contract_id": "C-1001"}
    assert row.status == "queued"


def test_work_order_camel_case_inputs_are_accepted(api: TestClient, staff: Staff) -> None:
    response = api.post(
        REGENERATE, json={"inputs": {"contractId": "C-7"}}, headers=staff.headers(Role.owner)
    )
    assert response.status_code == 202, response.text
    run = api.get(f"/runs/{response.json()['run_id']}", headers=staff.headers(Role.viewer))
    assert run.json()["inputs"] == {"contract_id": "C-7"}


def test_viewer_may_not_trigger(api: TestClient, staff: Staff) -> None:
    response = api.post(
        REGENERATE, json={"inputs": {"contract_id": "C-1"}}, headers=staff.headers(Role.viewer)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_role"


def test_unknown_trigger_is_404(api: TestClient, staff: Staff) -> None:
    response = api.post("/triggers/nope.nothing", json={}, headers=staff.headers(Role.operator))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_trigger"


def test_bad_inputs_are_422_naming_the_field(api: TestClient, staff: Staff) -> None:
    headers = staff.headers(Role.operator)
    missing = api.post(REGENERATE, json={"inputs": {}}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "inputs.contract_id"
    extra = api.post(REGENERATE, json={"inputs": {"contract_id": "C", "x": 1}}, headers=headers)
    assert extra.status_code == 422
    assert [d["field"] for d in extra.json()["error"]["details"]] == ["inputs.x"]
    not_a_date = api.post(
        "/triggers/finance.export.backfill",
        json={"inputs": {"from_date": "2026-13-45"}},
        headers=headers,
    )
    assert not_a_date.status_code == 422
    error = not_a_date.json()["error"]
    assert error["details"][0]["field"] == "inputs.from_date"
    assert "from_date" in error["message"]
    wrong_type = api.post(REGENERATE, json={"inputs": {"contract_id": 12}}, headers=headers)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]["details"][0]["field"] == "inputs.contract_id"


def test_idempotency_key_returns_the_same_run_and_conflicts_on_other_inputs(
    api: TestClient, staff: Staff, engine: Engine
) -> None:
    headers = {**staff.headers(Role.operator), "Idempotency-Key": "k-1"}
    first = api.post(REGENERATE, json={"inputs": {"contract_id": "C-1"}}, headers=headers)
    again = api.post(REGENERATE, json={"inputs": {"contract_id": "C-1"}}, headers=headers)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"run_id": first.json()["run_id"], "status": "queued", "duplicate": True}
    other = api.post(REGENERATE, json={"inputs": {"contract_id": "C-2"}}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_conflict"
    # A fresh key is a new run even for the same inputs (the caller asked for it).
    fresh = api.post(
        REGENERATE,
        json={"inputs": {"contract_id": "C-1"}},
        headers={**staff.headers(Role.operator), "Idempotency-Key": "k-2"},
    )
    assert fresh.status_code == 202
    assert fresh.json()["run_id"] != first.json()["run_id"]
    assert store_counts(engine)["runs"] == 2


def test_same_inputs_within_the_dedupe_window_return_the_same_run(
    api: TestClient, staff: Staff, run_clock: FrozenClock, engine: Engine
) -> None:
    headers = staff.headers(Role.operator)
    body = {"inputs": {"upload_id": "U-9"}}
    first = api.post("/triggers/portal.notify.retry", json=body, headers=headers)
    run_clock.advance(timedelta(seconds=299))  # portal.notify.retry: 300 s window
    # Another operator, same trigger and inputs: still the same run.
    second = api.post("/triggers/portal.notify.retry", json=body, headers=staff.headers(Role.owner))
    assert second.status_code == 200
    assert second.json()["run_id"] == first.json()["run_id"]
    assert second.json()["duplicate"] is True
    other = api.post(
        "/triggers/portal.notify.retry", json={"inputs": {"upload_id": "U-10"}}, headers=headers
    )
    assert other.status_code == 202
    run_clock.advance(timedelta(seconds=2))
    later = api.post("/triggers/portal.notify.retry", json=body, headers=headers)
    assert later.status_code == 202
    assert later.json()["run_id"] != first.json()["run_id"]
    assert store_counts(engine)["runs"] == 3


def test_dry_run_shows_the_call_and_creates_nothing(
    api: TestClient, staff: Staff, engine: Engine, target: Target
) -> None:
    before = store_counts(engine)
    response = api.post(
        f"{REGENERATE}?dry_run=true",
        json={"inputs": {"contract_id": "C-1", "reason": "asked by jane@example.com"}},
        headers=staff.headers(Role.operator),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    request = body["request"]
    assert request["method"] == "POST"
    assert request["url"] == f"{target.url}/ct/actions/contract.regenerate"
    assert request["headers"]["Idempotency-Key"] == "<run_id>"
    assert not any(h.lower() == "x-ct-signature" for h in request["headers"])
    assert request["body"]["inputs"] == {
        "contract_id": "C-1",
        "reason": "asked by [REDACTED]",
    }
    assert request["body"]["action"] == "contract.regenerate"
    assert store_counts(engine) == before
    assert target.deliveries == []


def test_dry_run_reports_bad_inputs_and_guards_too(
    api: TestClient, staff: Staff, run_clock: FrozenClock, engine: Engine
) -> None:
    headers = staff.headers(Role.operator)
    bad = api.post(REGENERATE + "?dry_run=true", json={"inputs": {}}, headers=headers)
    assert bad.status_code == 422
    run_clock.advance(timedelta(hours=10))  # Thursday 20:00 London: window closed
    closed = api.post(
        "/triggers/finance.export.backfill?dry_run=true",
        json={"inputs": {"from_date": "2026-11-01"}},
        headers=headers,
    )
    assert closed.status_code == 409
    assert closed.json()["error"]["details"]["guard"] == "finance_window"
    assert store_counts(engine)["runs"] == 0


def test_inputs_are_redacted_in_the_run(api: TestClient, staff: Staff, engine: Engine) -> None:
    response = api.post(
        REGENERATE,
        json={"inputs": {"contract_id": "C-1", "reason": "call 07700 900123 first"}},
        headers=staff.headers(Role.operator),
    )
    assert response.status_code == 202
    with engine.connect() as conn:
        row = conn.execute(select(runs)).one()
    assert row.inputs["reason"] == "call [REDACTED] first"
    assert row.redactions == ["reason"]


def test_concurrent_identical_requests_create_one_run(
    engine: Engine, run_clock: FrozenClock
) -> None:
    catalog = load_default_catalog()
    caller = Caller("operator-user", Role.operator)
    results: list[str] = []
    errors: list[BaseException] = []

    def request(key: str | None) -> None:
        # Keyless requests dedupe on inputs, keyed ones on the key: different inputs keep
        # the two groups apart whatever order the threads run in.
        inputs = {"contract_id": "C-RACE" if key is None else "C-RACE-KEYED"}
        try:
            with unit_of_work(engine) as conn:
                accepted = start_run(
                    conn,
                    catalog,
                    "contract.regenerate",
                    inputs,
                    caller=caller,
                    now=run_clock.now(),
                    idempotency_key=key,
                )
            results.append(accepted.run_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(None,)) for _ in range(6)]
    threads += [threading.Thread(target=request, args=("race-key",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 12
    assert len(set(results)) == 2  # one run per group, however the requests interleave
    assert store_counts(engine)["runs"] == 2
