"""Ingest is an ordinary FastAPI route: middleware added to the app, dependency overrides and
exception handlers all apply to it, and its body is read only once the token is checked."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from control_tower.app import create_app
from control_tower.ingest.endpoints import signed_event
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.helpers import Producer, make_event


class Recorder:
    """Plain ASGI middleware that notes each request's path and whether its body was read."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, bool]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = [scope["path"], False]

        async def noting_receive() -> dict[str, object]:
            message = await receive()
            if message["type"] == "http.request":
                entry[1] = True
            return dict(message)

        try:
            await self.app(scope, noting_receive, send)
        finally:
            self.seen.append((str(entry[0]), bool(entry[1])))


@pytest.fixture
def recorded(settings: Settings, clock: FrozenClock) -> tuple[FastAPI, list[tuple[str, bool]]]:
    seen: list[tuple[str, bool]] = []
    app = create_app(settings, clock=clock)
    app.add_middleware(Recorder, seen=seen)
    return app, seen


def test_middleware_added_to_the_app_sees_post_events(
    recorded: tuple[FastAPI, list[tuple[str, bool]]], producer: Producer
) -> None:
    app, seen = recorded
    with TestClient(app) as client:
        body, headers = producer.signed(make_event(event_id="through-middleware"))
        assert client.post("/events", content=body, headers=headers).status_code == 202
        batch, batch_headers = producer.signed({"events": [make_event()]})
        assert client.post("/events/batch", content=batch, headers=batch_headers).status_code == 200
    assert ("/events", True) in seen
    assert ("/events/batch", True) in seen


def test_an_unauthenticated_post_is_refused_before_its_body_is_read(
    recorded: tuple[FastAPI, list[tuple[str, bool]]],
) -> None:
    app, seen = recorded
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(
            "/events", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 401
    assert seen == [("/events", False)]


def test_dependency_overrides_and_exception_handlers_reach_ingest(
    settings: Settings, clock: FrozenClock, producer: Producer
) -> None:
    app = create_app(settings, clock=clock)

    class Refused(Exception):
        pass

    async def refuse_everyone(request: Request) -> None:
        raise Refused(request.url.path)

    @app.exception_handler(Refused)
    async def teapot(_request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"refused": str(exc)}, status_code=418)

    app.dependency_overrides[signed_event] = refuse_everyone
    with TestClient(app) as client:
        body, headers = producer.signed(make_event())
        answer = client.post("/events", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (418, {"refused": "/events"})
