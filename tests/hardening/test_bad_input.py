"""Inputs that once answered 500, or were accepted though the docs refuse them: each now gets
its 4xx and a JSON body (or, in the UI, a page) that says what is wrong. Each case was
reproduced against the code before the fix (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_tower.auth.roles import Role
from tests.helpers import Producer, Staff, assert_error, make_event, store_counts
from tests.web.test_ui import sign_in


def post(client: TestClient, producer: Producer, event: dict[str, Any]) -> Any:
    body, headers = producer.signed(event)
    return client.post("/events", content=body, headers=headers)


def test_an_overlong_timestamp_is_401_not_500(client: TestClient, producer: Producer) -> None:
    body, headers = producer.signed(make_event())
    headers["X-CT-Timestamp"] = "9" * 400
    assert_error(client.post("/events", content=body, headers=headers), 401, "bad_timestamp")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/runs?trigger=a%00b", Role.viewer),
        ("GET", "/runs?initiator=%00", Role.viewer),
        ("GET", "/runs/run-%00", Role.viewer),
        ("GET", "/events?type=backend.fn%00", Role.maintainer),
        ("GET", "/events/evt%00", Role.maintainer),
        ("POST", "/dlq/evt%00/replay", Role.operator),
        ("POST", "/runs/run-%00/cancel", Role.operator),
        ("GET", "/dlq?cursor=%00", Role.maintainer),
    ],
)
def test_a_nul_in_a_url_is_400_on_every_route(
    client: TestClient, staff: Staff, method: str, path: str, role: Role
) -> None:
    answer = client.request(method, path, headers=staff.headers(role))
    assert_error(answer, 400, "unsupported_character")


def test_a_nul_in_a_body_is_400(client: TestClient, staff: Staff) -> None:
    headers = {**staff.headers(Role.operator), "Content-Type": "application/json"}
    note = client.post("/runs/run-x/notes", content=b'{"text": "a\\u0000b"}', headers=headers)
    assert_error(note, 400, "unsupported_character")
    inputs = b'{"inputs": {"contractor_id": "c\\u0000"}}'
    trigger = client.post("/triggers/contract.regenerate", content=inputs, headers=headers)
    assert_error(trigger, 400, "unsupported_character")


@pytest.mark.parametrize(
    "since",
    [
        "2026-11-26T09:00:00",  # no offset
        "0001-01-01T00:00:00+01:00",  # no instant in UTC
        "9999-12-31T23:59:00-01:00",
        "0.5",  # a number, not a timestamp
        "1764150000",
    ],
)
@pytest.mark.parametrize("path", ["/dlq", "/runs", "/events"])
def test_since_must_be_iso_with_an_offset_in_range(
    client: TestClient, staff: Staff, path: str, since: str
) -> None:
    answer = client.get(path, params={"since": since}, headers=staff.headers(Role.owner))
    error = assert_error(answer, 422, "validation_failed")
    assert "since" in error["message"]


def test_the_ui_answers_a_bad_cursor_and_a_nul_with_a_page(
    client: TestClient, staff: Staff
) -> None:
    sign_in(client, staff.tokens[Role.maintainer].token)
    garbage = client.get("/ui/events?cursor=garbage")
    assert garbage.status_code == 400
    assert "text/html" in garbage.headers["content-type"]
    assert "cursor" in garbage.text
    nul = client.get("/ui/events?type=%00")
    assert nul.status_code == 400


@pytest.mark.parametrize(
    ("payload_change", "field"),
    [
        ({"total": {"amount_minor": 100, "currency": "GBP\n"}}, "payload"),
        ({"total": {"amount_minor": 2**70, "currency": "GBP"}}, "payload.total.amount_minor"),
    ],
)
def test_money_is_as_strict_as_documented(
    client: TestClient, engine: Any, clock: Any, payload_change: dict[str, Any], field: str
) -> None:
    from tests.conftest import issue_token

    finance = Producer(issue_token(engine, "fin", Role.producer, "finance", now=clock.now()))
    payload = {
        "invoice_id": "inv-1", "period": "2026-11",
        "total": {"amount_minor": 100, "currency": "GBP"},
        "vat": {"amount_minor": 20, "currency": "GBP"},
        **payload_change,
    }  # fmt: skip
    event = make_event("finance.invoice.generated", "finance", payload=payload)
    before = store_counts(engine)
    error = assert_error(post(client, finance, event), 422, "validation_failed")
    assert any(d["field"].startswith(field) for d in error["details"]), error
    assert store_counts(engine) == before


def test_occurred_at_as_a_bare_number_is_refused(client: TestClient, producer: Producer) -> None:
    error = assert_error(post(client, producer, make_event(occurred_at=1764150000)), 422)  # type: ignore[arg-type]
    assert any(d["field"] == "occurred_at" for d in error["details"])


def test_an_upload_the_client_abandons_is_not_a_500(client: TestClient, producer: Producer) -> None:
    """A client that disconnects mid-body: counted as 499 (client closed request), not 500."""
    app = client.app
    body, headers = producer.signed(make_event())
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/events", "raw_path": b"/events", "query_string": b"",
        "root_path": "", "headers": raw, "client": ("127.0.0.1", 1), "server": ("t", 80),
        "state": {},
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [499]
