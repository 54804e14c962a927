"""The bare endpoint the benchmark compares CT with: same stack, no work.

A FastAPI app on the same uvicorn options as `ct serve`, whose POST handlers only read and parse
the JSON body and answer 202. Served with `uvicorn --factory --app-dir bench bare_app:create_app`.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response

ACCEPTED = b'{"status":"accepted"}'


def create_app() -> FastAPI:
    # Configured like CT's app: FastAPI's OpenTelemetry hooks off.
    app = FastAPI(title="bare", telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/events")
    async def post_event(request: Request) -> Response:
        json.loads(await request.body())
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    @app.post("/events/batch")
    async def post_batch(request: Request) -> Response:
        json.loads(await request.body())
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app
