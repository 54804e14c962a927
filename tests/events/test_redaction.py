"""The redaction policy masks personal data before storage and records what it masked."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text

from control_tower.auth.roles import Role
from control_tower.events.redaction import MASK, redact
from control_tower.models import events
from tests.helpers import Producer, Staff, make_event

RAW_VALUES = ["alice@example.com", "Alice Smith", "07700 900123", "bob@example.org"]


def store_dump(engine: Engine) -> str:
    """Every value in every column of every table, as text."""
    values: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                values.extend(str(v) for v in row)
    return "\n".join(values)


def test_personal_data_is_masked_before_storage(
    client: TestClient, producer: Producer, staff: Staff, engine: Engine
) -> None:
    payload = {
        "fn_name": "sendReminder",
        "severity": "low",
        "stack_ref": "failed for bob@example.org",
        "email": "alice@example.com",
        "name": "Alice Smith",
        "context": {"phone": "07700 900123", "contractor_id": "c-42"},
    }
    body, headers = producer.signed(make_event(event_id="evt-pii", payload=payload))
    response = client.post("/events", content=body, headers=headers)
    assert response.status_code == 202, response.text
    masked_paths = ["stack_ref", "email", "name", "context.phone"]
    assert response.json()["redactions"] == masked_paths

    expected_payload = {
        "fn_name": "sendReminder",
        "severity": "low",
        "stack_ref": f"failed for {MASK}",
        "email": MASK,
        "name": MASK,
        "context": {"phone": MASK, "contractor_id": "c-42"},
    }
    with engine.connect() as conn:
        row = conn.execute(select(events).where(events.c.event_id == "evt-pii")).one()
    assert row.payload == expected_payload
    assert row.redactions == masked_paths

    read = client.get("/events/evt-pii", headers=staff.headers(Role.maintainer))
    assert read.status_code == 200
    assert read.json()["payload"] == expected_payload
    assert read.json()["redactions"] == masked_paths
    listed = client.get("/events", headers=staff.headers(Role.maintainer))
    [item] = listed.json()["items"]
    assert (item["payload"], item["redactions"]) == (expected_payload, masked_paths)

    dump = store_dump(engine)
    assert "c-42" in dump  # the dump does include stored payloads
    for raw in RAW_VALUES:
        assert raw not in dump


def test_a_retry_of_a_redacted_event_is_a_duplicate(client: TestClient, producer: Producer) -> None:
    payload = {"fn_name": "f", "severity": "low", "email": "alice@example.com"}
    body, headers = producer.signed(make_event(event_id="evt-pii-2", payload=payload))
    assert client.post("/events", content=body, headers=headers).status_code == 202
    again = client.post("/events", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    other = make_event(event_id="evt-pii-2", payload={**payload, "email": "eve@example.com"})
    body, headers = producer.signed(other)
    # Different personal data is different content, even though both store as MASK.
    assert client.post("/events", content=body, headers=headers).status_code == 409


def test_redact_by_field_name_and_by_value() -> None:
    cleaned, masked = redact(
        {
            "firstName": "Ann",
            "items": [{"note": "call +44 7700 900123"}, {"note": "no pii"}],
            "ni": "AB 12 34 56 C",
            "email": "",
            "ids": {"contractor_id": "c-1"},
        }
    )
    assert cleaned == {
        "firstName": MASK,
        "items": [{"note": f"call {MASK}"}, {"note": "no pii"}],
        "ni": MASK,
        "email": "",
        "ids": {"contractor_id": "c-1"},
    }
    assert masked == ["firstName", "items[0].note", "ni"]


def test_every_value_pattern_needs_a_digit_or_an_at_sign() -> None:
    """Text with neither skips the value patterns: nothing it holds can match one of them."""
    from control_tower.events.redaction import _VALUE_PATTERNS

    letters_only = "Jane Smith of Flat B Rose Court sort code account IBAN GB NI number"
    assert all(pattern.search(letters_only) is None for pattern in _VALUE_PATTERNS)
    examples = ["jane@example.com", "AB 12 34 56 C", "GB29 NWBK 6016 1331 9268 19",
                "07700 900123", "20-00-00", "SW1A 1AA"]  # fmt: skip
    for value in examples:  # and each kind of value is still masked
        assert redact({"note": value}) == ({"note": MASK}, ["note"]), value
    # Digits in other scripts are digits to the patterns too, so they are looked at.
    assert redact({"note": "AB ١٢ ٣٤ ٥٦ C"}) == ({"note": MASK}, ["note"])
