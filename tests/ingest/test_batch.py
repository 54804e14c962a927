"""POST /events/batch: up to 500 events under one signature, answered per item, in order."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from control_tower.events.schemas import BatchResult
from control_tower.models import events
from tests.helpers import Producer, assert_error, make_event, store_counts


def post_batch(client: TestClient, producer: Producer, items: Any) -> Any:
    body, headers = producer.signed({"events": items})
    return client.post("/events/batch", content=body, headers=headers)


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def test_each_item_gets_its_own_answer_in_order(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    earlier = make_event(event_id="evt-earlier")
    body, headers = producer.signed(earlier)
    assert client.post("/events", content=body, headers=headers).status_code == 202

    fresh = make_event(event_id="evt-fresh")
    items = [
        fresh,
        earlier,  # same id, same content: a safe retry
        {**earlier, "payload": {"fn_name": "other", "severity": "low"}},  # same id, new content
        make_event(event_id="evt-invalid", payload={"severity": "none"}),
        make_event(
            "finance.payment.webhook",
            source="finance",
            event_id="evt-other-source",
            payload={"invoice_id": "i", "status_before": "a", "status_after": "b"},
        ),
        fresh,  # repeated inside the batch
        {**fresh, "payload": {"fn_name": "changed", "severity": "low"}},
        "not an event",
    ]
    response = post_batch(client, producer, items)
    assert response.status_code == 200, response.text
    result = response.json()
    answers = [(r["index"], r["event_id"], r["status"], r["duplicate"]) for r in result["results"]]
    assert answers == [
        (0, "evt-fresh", 202, False),
        (1, "evt-earlier", 200, True),
        (2, "evt-earlier", 409, False),
        (3, "evt-invalid", 422, False),
        (4, "evt-other-source", 403, False),
        (5, "evt-fresh", 200, True),
        (6, "evt-fresh", 409, False),
        (7, None, 422, False),
    ]
    errors = {r["index"]: r["error"] for r in result["results"]}
    assert errors[0] is None
    assert errors[1] is None
    assert errors[2]["code"] == "conflict"
    assert errors[3]["code"] == "validation_failed"
    assert errors[4]["code"] == "wrong_source"
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (1, 2, 5)
    assert stored_ids(engine) == {"evt-earlier", "evt-fresh"}
    # The answer is written without the model; it must still be exactly a BatchResult.
    assert BatchResult.model_validate(result).model_dump(mode="json") == result


def test_a_retried_batch_is_all_duplicates(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    items = [make_event() for _ in range(3)]
    first = post_batch(client, producer, items).json()
    assert [r["status"] for r in first["results"]] == [202, 202, 202]
    before = store_counts(engine)
    again = post_batch(client, producer, items).json()
    assert [r["status"] for r in again["results"]] == [200, 200, 200]
    assert again["duplicates"] == 3
    assert store_counts(engine) == before


def test_camel_case_items_are_accepted(client: TestClient, producer: Producer) -> None:
    event = make_event()
    camel = {
        "eventId": event["event_id"],
        "type": event["type"],
        "ts": event["occurred_at"],
        "source": "backend",
        "payload": event["payload"],
    }
    result = post_batch(client, producer, [camel, event]).json()
    assert [r["status"] for r in result["results"]] == [202, 200]


def test_five_hundred_events_are_accepted(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    result = post_batch(client, producer, [make_event() for _ in range(500)]).json()
    assert result["accepted"] == 500
    assert store_counts(engine).events == 500


def test_more_than_500_events_is_422(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    error = assert_error(post_batch(client, producer, [make_event() for _ in range(501)]), 422)
    assert error["details"] == [{"field": "events", "message": "too many events"}]
    assert store_counts(engine) == before


def test_empty_or_shapeless_batches_are_422(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    for items in ([], {}, None, "events"):
        assert_error(post_batch(client, producer, items), 422, "validation_failed")
    body, headers = producer.signed([make_event()])  # a bare list, not {"events": [...]}
    assert_error(client.post("/events/batch", content=body, headers=headers), 422)
    assert store_counts(engine) == before


def test_a_batch_over_4_mib_is_413(client: TestClient, producer: Producer, engine: Engine) -> None:
    before = store_counts(engine)
    big = "x" * (200 * 1024)
    items = [
        make_event(payload={"fn_name": "f", "severity": "low", "stack_ref": big}) for _ in range(21)
    ]
    body = json.dumps({"events": items}).encode()
    assert len(body) > 4 * 1024 * 1024
    response = client.post("/events/batch", content=body, headers=producer.headers(body))
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": 4 * 1024 * 1024}
    assert store_counts(engine) == before


def test_a_badly_signed_batch_changes_nothing(
    client: TestClient, producer: Producer, engine: Engine
) -> None:
    before = store_counts(engine)
    body, headers = producer.signed({"events": [make_event()]})
    headers["X-CT-Signature"] = "sha256=" + "0" * 64
    assert_error(client.post("/events/batch", content=body, headers=headers), 401)
    headers = producer.headers(b"{bad")
    assert_error(client.post("/events/batch", content=b"{bad", headers=headers), 400)
    body, headers = producer.signed({"events": [make_event()]})
    headers["Content-Type"] = "text/plain"
    assert_error(client.post("/events/batch", content=body, headers=headers), 415)
    assert store_counts(engine) == before
