"""Append-only history, notes, the audit chain, and listing runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from control_tower.audit import chain
from control_tower.auth.roles import Role
from control_tower.cli.main import app as cli
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log, runs
from control_tower.runs.worker import Claim
from tests.helpers import Staff
from tests.runs.conftest import WorkerFactory
from tests.runs.helpers import show, trigger


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE run_transitions SET to_status = 'success'",
        "DELETE FROM run_transitions",
        "UPDATE run_notes SET text = 'edited'",
        "DELETE FROM run_notes",
    ],
)
def test_transitions_and_notes_are_append_only_in_the_database(
    api: TestClient, staff: Staff, engine: Engine, statement: str
) -> None:
    run_id = trigger(api, staff)
    note = api.post(
        f"/runs/{run_id}/notes", json={"text": "checked"}, headers=staff.headers(Role.operator)
    )
    assert note.status_code == 201
    with pytest.raises(DBAPIError, match="append-only"), unit_of_work(engine) as conn:
        conn.execute(text(statement))
    run = show(api, staff, run_id)
    assert [n["text"] for n in run["notes"]] == ["checked"]
    assert [t["to_status"] for t in run["transitions"]] == ["queued"]


def test_notes_are_appended_redacted_and_audited(
    api: TestClient, staff: Staff, engine: Engine, run_clock: FrozenClock
) -> None:
    run_id = trigger(api, staff)
    first = api.post(
        f"/runs/{run_id}/notes",
        json={"text": "customer mail: jo@example.com"},
        headers=staff.headers(Role.operator),
    )
    assert first.status_code == 201
    assert first.json()["text"] == "customer mail: [REDACTED]"
    run_clock.advance(timedelta(minutes=1))
    api.post(f"/runs/{run_id}/notes", json={"text": "second"}, headers=staff.headers(Role.owner))
    viewer = api.post(
        f"/runs/{run_id}/notes", json={"text": "x"}, headers=staff.headers(Role.viewer)
    )
    assert viewer.status_code == 403
    missing = api.post("/runs/run-x/notes", json={"text": "x"}, headers=staff.headers(Role.owner))
    assert missing.status_code == 404
    notes = show(api, staff, run_id)["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [
        ("operator-user", "customer mail: [REDACTED]"),
        ("owner-user", "second"),
    ]
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]
    assert actions[-3:] == ["run.triggered", "run.note_added", "run.note_added"]


def test_every_write_and_transition_is_in_the_audit_chain(
    api: TestClient, staff: Staff, engine: Engine, make_worker: WorkerFactory
) -> None:
    done = trigger(api, staff, "C-1")
    make_worker().run_once()
    cancelled = trigger(api, staff, "C-2")
    api.post(f"/runs/{cancelled}/cancel", headers=staff.headers(Role.operator))
    with engine.connect() as conn:
        rows = [
            (r.actor, r.action, r.target)
            for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))
            if r.target.startswith("run:")
        ]
    assert rows == [
        ("operator-user", "run.triggered", f"run:{done}"),
        ("worker:w1", "run.running", f"run:{done}"),
        ("worker:w1", "run.success", f"run:{done}"),
        ("operator-user", "run.triggered", f"run:{cancelled}"),
        ("operator-user", "run.cancelled", f"run:{cancelled}"),
    ]
    with unit_of_work(engine, write=False) as conn:
        assert chain.verify(conn).ok


def test_list_runs_filters_and_pages_newest_first(
    api: TestClient, staff: Staff, run_clock: FrozenClock, make_worker: WorkerFactory
) -> None:
    ids = []
    for i in range(5):
        ids.append(trigger(api, staff, f"C-{i}"))
        run_clock.advance(timedelta(minutes=1))
    upload = api.post(
        "/triggers/portal.notify.retry",
        json={"inputs": {"upload_id": "U-1"}},
        headers=staff.headers(Role.owner),
    ).json()["run_id"]
    make_worker().run_once()  # the oldest contract run succeeds
    viewer = staff.headers(Role.viewer)

    page1 = api.get("/runs?limit=4", headers=viewer).json()
    page2 = api.get(f"/runs?limit=4&cursor={page1['next_cursor']}", headers=viewer).json()
    assert [r["run_id"] for r in page1["items"] + page2["items"]] == [upload, *reversed(ids)]
    assert page2["next_cursor"] is None

    by_trigger = api.get("/runs?trigger=portal.notify.retry", headers=viewer).json()
    assert [r["run_id"] for r in by_trigger["items"]] == [upload]
    by_status = api.get("/runs?status=success", headers=viewer).json()
    assert [r["run_id"] for r in by_status["items"]] == [ids[0]]
    by_initiator = api.get("/runs?initiator=owner-user", headers=viewer).json()
    assert [r["run_id"] for r in by_initiator["items"]] == [upload]
    since = (run_clock.now() - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    recent = api.get("/runs", params={"since": since}, headers=viewer).json()
    assert [r["run_id"] for r in recent["items"]] == [upload, ids[4], ids[3]]
    assert api.get("/runs?status=bogus", headers=viewer).status_code == 422
    assert api.get("/runs?cursor=xyz", headers=viewer).status_code == 400
    assert api.get("/runs/run-missing", headers=viewer).status_code == 404
    assert api.get("/runs").status_code == 401


def _tamper(engine: Engine, backend: str, statement: str) -> None:
    """Edit the store behind CT's back, as someone with database access could."""
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text(statement))
            conn.execute(
                text(
                    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                )
            )


def test_editing_an_audit_row_behind_cts_back_breaks_verify(
    api: TestClient, staff: Staff, engine: Engine, backend: str, cli_env: dict[str, str]
) -> None:
    run_id = trigger(api, staff, "C-1")
    api.post(f"/runs/{run_id}/cancel", headers=staff.headers(Role.operator))
    with engine.connect() as conn:
        seq = conn.execute(
            select(audit_log.c.seq).where(audit_log.c.action == "run.triggered")
        ).scalar_one()
    runner = CliRunner(env=cli_env)
    intact = runner.invoke(cli, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    _tamper(engine, backend, f"UPDATE audit_log SET actor = 'someone-else' WHERE seq = {seq}")
    with unit_of_work(engine, write=False) as conn:
        result = chain.verify(conn)
    assert not result.ok
    assert result.first_bad_seq == seq
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"row {seq}" in broken.output


def test_claims_skip_a_run_another_worker_has_locked(
    api: TestClient, staff: Staff, engine: Engine, backend: str, make_worker: WorkerFactory
) -> None:
    first = trigger(api, staff, "C-1")
    second = trigger(api, staff, "C-2")
    if backend == "postgresql":
        # Another worker is mid-claim on the first run (row locked, not committed): this one
        # must neither wait nor take it (FOR UPDATE SKIP LOCKED).
        with engine.connect() as conn, conn.begin():
            conn.execute(select(runs).where(runs.c.run_id == first).with_for_update())
            claim = make_worker("w2").claim()
        assert isinstance(claim, Claim)
        assert claim.run_id == second
    else:
        # SQLite has one writer at a time: claims are serialised, each takes a different run.
        claims = [make_worker("w1").claim(), make_worker("w2").claim()]
        assert {c.run_id for c in claims if isinstance(c, Claim)} == {first, second}
