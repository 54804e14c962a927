"""The ingest doors served past the routing layers answer exactly as an ordinary route does."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from control_tower.auth.roles import Role
from control_tower.events.router import ingest_routes
from control_tower.kit.direct_routes import DirectRoutes
from control_tower.kit.errors import Conflict
from tests.helpers import Producer, Staff, assert_error, make_event


def http_counts(client: TestClient, staff: Staff) -> dict[tuple[str, str, str], float]:
    answer = client.get("/metrics", headers=staff.headers(Role.viewer))
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if s.name == "ct_http_requests_total"
    }


def test_only_the_two_ingest_doors_are_served_directly() -> None:
    assert sorted((r.path, sorted(r.methods or ())) for r in ingest_routes()) == [
        ("/events", ["POST"]),
        ("/events/batch", ["POST"]),
    ]


def test_answers_carry_request_id_rate_limit_headers_and_route_metrics(
    client: TestClient, producer: Producer, staff: Staff
) -> None:
    body, headers = producer.signed(make_event(event_id="direct-1"))
    accepted = client.post("/events", content=body, headers={**headers, "X-Request-ID": "r-1"})
    assert accepted.status_code == 202
    assert accepted.headers["x-request-id"] == "r-1"
    assert accepted.headers["content-type"] == "application/json"
    assert "ratelimit-remaining" in accepted.headers

    refused = client.post("/events/batch", content=b"{}", headers=producer.headers(b"{}"))
    assert_error(refused, 422)
    assert "ratelimit-limit" in refused.headers

    stranger = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert_error(stranger, 401)
    assert stranger.headers["www-authenticate"] == "Bearer"
    assert "x-request-id" in stranger.headers

    counts = http_counts(client, staff)
    assert counts[("/events", "POST", "202")] == 1.0
    assert counts[("/events", "POST", "401")] == 1.0
    assert counts[("/events/batch", "POST", "422")] == 1.0


def test_other_methods_and_paths_take_the_ordinary_way(
    client: TestClient, producer: Producer, staff: Staff
) -> None:
    assert_error(client.delete("/events", headers=staff.headers(Role.owner)), 405)
    assert client.get("/events", headers=staff.headers(Role.maintainer)).status_code == 200
    body, headers = producer.signed(make_event(event_id="direct-2"))
    # A trailing slash is another path: the ordinary router redirects it, storing nothing.
    answer = client.post("/events/", content=body, headers=headers, follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/events")
    assert client.get("/events/direct-2", headers=staff.headers(Role.maintainer)).status_code == 404


def test_a_crash_in_a_direct_route_is_a_logged_json_500(capsys: pytest.CaptureFixture[str]) -> None:
    async def boom(_request: Request) -> Response:
        raise RuntimeError("a bug")

    async def conflict(_request: Request) -> Response:
        raise Conflict("taken", code="event_id_conflict")

    async def ordinary(scope: Scope, receive: Receive, send: Send) -> None:
        await Response("ordinary", status_code=200)(scope, receive, send)

    routes = [
        APIRoute("/boom", boom, methods=["POST"]),
        APIRoute("/conflict", conflict, methods=["POST"]),
    ]
    # Not entered as a context: no lifespan, which `ordinary` does not speak.
    client = TestClient(DirectRoutes(ordinary, routes), raise_server_exceptions=True)
    assert_error(client.post("/boom"), 500, "internal_error")  # raised nothing to the server
    assert_error(client.post("/conflict"), 409, "event_id_conflict")
    assert client.post("/elsewhere").text == "ordinary"
    assert "unhandled_error" in capsys.readouterr().out
