"""A producer may affect only the systems its source belongs to (issue 15): a backend token
naming website or finance in `payload.system_id` is refused at ingest, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Producer, assert_error, make_event, store_counts


def post(client: TestClient, producer: Producer, event: dict[str, Any]) -> Any:
    body, headers = producer.signed(event)
    return client.post("/events", content=body, headers=headers)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("backend.fn.error", {"fn_name": "f", "severity": "high", "system_id": "website"}),
        ("system.heartbeat", {"system_id": "finance"}),
    ],
)
def test_another_systems_event_is_403(
    client: TestClient, producer: Producer, engine: Engine, event_type: str, payload: Any
) -> None:
    before = store_counts(engine)
    error = assert_error(
        post(client, producer, make_event(event_type, payload=payload)), 403, "system_not_allowed"
    )
    assert error["details"][0]["field"] == "payload.system_id"
    assert store_counts(engine) == before


def test_its_own_system_is_accepted(client: TestClient, producer: Producer) -> None:
    beat = make_event("system.heartbeat", payload={"system_id": "backend"})
    assert post(client, producer, beat).status_code == 202
