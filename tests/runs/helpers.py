"""Helpers shared by the runs tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.auth.roles import Role
from control_tower.models import runs
from tests.helpers import Staff

REGENERATE = "/triggers/contract.regenerate"


def trigger(api: TestClient, staff: Staff, contract_id: str = "C-1", **headers: str) -> str:
    response = api.post(
        REGENERATE,
        json={"inputs": {"contract_id": contract_id}},
        headers={**staff.headers(Role.operator), **headers},
    )
    assert response.status_code in (200, 202), response.text
    run_id: str = response.json()["run_id"]
    return run_id


def run_row(engine: Engine, run_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(runs).where(runs.c.run_id == run_id)).one()


def show(api: TestClient, staff: Staff, run_id: str) -> dict[str, Any]:
    response = api.get(f"/runs/{run_id}", headers=staff.headers(Role.viewer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
