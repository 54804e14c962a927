"""The OpenAPI document: FastAPI's, plus the ingest bodies it cannot infer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from control_tower.events.schemas import EventIn


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    event_in = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(event_in.pop("$defs", {}))
    components["EventIn"] = event_in
    components["BatchIn"] = {
        "title": "BatchIn",
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": {"$ref": "#/components/schemas/EventIn"},
            }
        },
    }
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "signature": {"type": "apiKey", "in": "header", "name": "X-CT-Signature"},
    }
    app.openapi_schema = schema
    return schema
