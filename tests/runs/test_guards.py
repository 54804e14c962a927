"""Guards: the finance window across both DST changes, and the rate limit; refusal bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from control_tower.auth.roles import Role
from control_tower.catalog.triggers import FinanceWindow
from control_tower.kit.clock import FrozenClock
from control_tower.runs.guards import window_open_at
from tests.helpers import Staff
from tests.runs.conftest import WorkerFactory
from tests.runs.helpers import show
from tests.runs.target_server import Target

BACKFILL = "/triggers/finance.export.backfill"
WEEKDAYS = FinanceWindow()  # the default: mon-fri 07:00-19:00 Europe/London


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 2026: clocks go forward on Sunday 29 March (GMT→BST), back on Sunday 25 October (BST→GMT).
@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Friday before the spring change, 19:30 GMT: next opening is Monday 07:00 BST = 06:00Z.
        (utc(2026, 3, 27, 19, 30), utc(2026, 3, 30, 6, 0)),
        # Monday after it, 06:30Z is 07:30 BST: open (in GMT it would still be closed).
        (utc(2026, 3, 30, 6, 30), None),
        # 05:59Z is 06:59 BST: closed until 06:00Z.
        (utc(2026, 3, 30, 5, 59), utc(2026, 3, 30, 6, 0)),
        # 18:30Z is 19:30 BST: closed until Tuesday 07:00 BST.
        (utc(2026, 3, 30, 18, 30), utc(2026, 3, 31, 6, 0)),
        # Friday before the autumn change, 18:30Z is 19:30 BST: closed until Monday 07:00 GMT.
        (utc(2026, 10, 23, 18, 30), utc(2026, 10, 26, 7, 0)),
        # Friday 17:59Z is 18:59 BST: still open.
        (utc(2026, 10, 23, 17, 59), None),
        # Monday after it, 06:30Z is 06:30 GMT: closed (in BST it would be open).
        (utc(2026, 10, 26, 6, 30), utc(2026, 10, 26, 7, 0)),
        # 18:30Z is 18:30 GMT: open.
        (utc(2026, 10, 26, 18, 30), None),
        # Saturday: closed until Monday.
        (utc(2026, 11, 28, 12, 0), utc(2026, 11, 30, 7, 0)),
    ],
)
def test_finance_window_across_both_dst_changes(now: datetime, opens: datetime | None) -> None:
    assert window_open_at(WEEKDAYS, now) == opens


def test_a_window_open_on_the_change_days_themselves() -> None:
    every_day = FinanceWindow.model_validate({"days": "mon-sun", "start": "07:00", "end": "19:00"})
    # Saturday night before the spring change → Sunday 07:00 BST (06:00Z).
    assert window_open_at(every_day, utc(2026, 3, 28, 20, 0)) == utc(2026, 3, 29, 6, 0)
    # Saturday night before the autumn change → Sunday 07:00 GMT (07:00Z).
    assert window_open_at(every_day, utc(2026, 10, 24, 20, 0)) == utc(2026, 10, 25, 7, 0)
    # A window of local 01:00-03:00 on the spring change day: 01:00-02:00 does not exist;
    # 01:30 GMT (=02:30 BST local) is inside it.
    night = FinanceWindow.model_validate({"days": "sun", "start": "01:00", "end": "03:00"})
    assert window_open_at(night, utc(2026, 3, 29, 1, 30)) is None
    assert window_open_at(night, utc(2026, 3, 29, 2, 0)) == utc(2026, 4, 5, 0, 0)


def test_refusal_body_names_guard_reason_and_when(
    api: TestClient, staff: Staff, run_clock: FrozenClock
) -> None:
    run_clock.set(utc(2026, 10, 23, 18, 30))  # Friday 19:30 BST
    response = api.post(
        BACKFILL, json={"inputs": {"from_date": "2026-10-01"}}, headers=staff.headers(Role.operator)
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "guard_refused"
    assert error["details"]["guard"] == "finance_window"
    assert "Europe/London" in error["details"]["reason"]
    assert error["details"]["allowed_from"] == "2026-10-26T07:00:00+00:00"
    # Retry-After counts the seconds until then: Friday 18:30Z → Monday 07:00Z.
    assert response.headers["retry-after"] == str(
        int(timedelta(days=2, hours=12.5).total_seconds())
    )
    run_clock.set(utc(2026, 10, 26, 7, 0))
    again = api.post(
        BACKFILL, json={"inputs": {"from_date": "2026-10-01"}}, headers=staff.headers(Role.operator)
    )
    assert again.status_code == 202


def test_rate_limit_counts_runs_in_a_rolling_hour(
    api: TestClient, staff: Staff, run_clock: FrozenClock
) -> None:
    headers = staff.headers(Role.operator)
    start = run_clock.now()
    for day in ("2026-11-01", "2026-11-02"):  # the default allows 2 per hour
        response = api.post(BACKFILL, json={"inputs": {"from_date": day}}, headers=headers)
        assert response.status_code == 202, response.text
        run_clock.advance(timedelta(minutes=10))
    # A duplicate of an earlier request does not count against (or hit) the limit.
    dup = api.post(BACKFILL, json={"inputs": {"from_date": "2026-11-02"}}, headers=headers)
    assert dup.status_code == 200
    third = api.post(BACKFILL, json={"inputs": {"from_date": "2026-11-03"}}, headers=headers)
    assert third.status_code == 409
    details = third.json()["error"]["details"]
    assert details["guard"] == "rate_limit"
    assert details["allowed_from"] == (start + timedelta(hours=1)).isoformat()
    run_clock.set(start + timedelta(hours=1, seconds=1))
    fourth = api.post(BACKFILL, json={"inputs": {"from_date": "2026-11-03"}}, headers=headers)
    assert fourth.status_code == 202


def test_a_run_due_outside_the_window_waits_for_it_without_an_attempt(
    api: TestClient,
    staff: Staff,
    run_clock: FrozenClock,
    make_worker: WorkerFactory,
    target: Target,
) -> None:
    run_clock.set(utc(2026, 3, 27, 18, 59))  # Friday 18:59 GMT: inside the window
    response = api.post(
        BACKFILL, json={"inputs": {"from_date": "2026-03-01"}}, headers=staff.headers(Role.operator)
    )
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    run_clock.set(utc(2026, 3, 27, 19, 0))  # the worker gets to it at 19:00: closed
    worker = make_worker()
    step = worker.run_once()
    assert step is not None
    assert step.action == "deferred"
    run = show(api, staff, run_id)
    assert run["status"] == "queued"
    assert run["attempts"] == 0
    assert run["next_attempt_at"] == "2026-03-30T06:00:00Z"  # Monday 07:00 BST
    assert worker.run_once() is None
    run_clock.set(utc(2026, 3, 30, 6, 0))
    done = worker.run_once()
    assert done is not None
    assert done.status == "success"
    assert target.effects == {run_id: 1}
