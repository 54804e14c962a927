"""The OpenAPI document: FastAPI's, plus what it cannot infer.

FastAPI sees a route's parameters and its declared responses; it cannot see the ingest bodies
(read by a dependency, after authentication), nor the errors that dependencies, middleware and
the error handlers answer. Those are derived here from each route as served: its dependency tree
(a `required_role` means a bearer token, so 401/403/429; `public_auth` names another scheme),
its parameters (path → 404, cursor → 400 `bad_cursor`), its body (400/413/415) and whether it
reaches the store (503). Every error answer has one shape, `ErrorBody` (kit/errors.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from control_tower.auth.dependencies import get_context
from control_tower.auth.roles import Role
from control_tower.events.schemas import EventIn

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
FASTAPI_422 = "#/components/schemas/HTTPValidationError"

# Conflicts a route raises from deep in its service, where its signature cannot show them.
# Routes that document their own 409 (ingest, triggers, cancel) need no entry.
CONFLICTS = {
    ("post", "/dlq/{event_id}/replay"): [("not_dead", "the event is not dead (nothing to replay)")],
}
# Error answers a route writes itself, in a body of its own rather than the ErrorBody.
OWN_ERROR_BODIES = {("get", "/readyz", "503")}
# `public_auth` schemes (auth/dependencies.py `authenticates_by`) → (security scheme, who).
SCHEMES = {"github-signature": ("githubSignature", "GitHub, signing with the webhook secret")}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A CT token (`ct token create`); its role decides what it may do.",
    },
    "signature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CT-Signature",
        "description": "Producers only: `sha256=<hex HMAC-SHA256 of the raw body>` with the "
        "token's signing secret. With `X-CT-Timestamp: <unix seconds>` (within "
        "`CT_SIGNATURE_TOLERANCE_SECONDS`) the HMAC covers `<timestamp>.<body>`.",
    },
    "githubSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Hub-Signature-256",
        "description": "GitHub's `sha256=<hex HMAC-SHA256 of the raw body>` with "
        "`CT_GITHUB_WEBHOOK_SECRET`.",
    },
}

ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "description": "Every error answer: a stable machine-readable code, a message for people, "
    "and details where they help (the fields that failed, a limit).",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "examples": ["validation_failed"]},
                "message": {"type": "string"},
                "details": {"description": "Anything, or null."},
            },
        }
    },
}


def _header(description: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


_INT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
HEADERS: dict[str, Any] = {
    "Retry-After": _header("Seconds to wait before trying again.", _INT, required=True),
    "RateLimit-Limit": _header("The burst (per token, or per address).", _INT, required=True),
    "RateLimit-Remaining": _header("Requests left in the burst.", _INT, required=True),
    "RateLimit-Reset": _header("Seconds until the burst is whole again.", _INT, required=True),
    "RateLimit-Policy": _header("`<burst>;w=60;rate=<per minute>`.", _TEXT, required=True),
}
RATE_LIMITED_HEADERS = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADERS}
RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying.", _INT, required=False)}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": _header("`Bearer`, when the token is the problem.", _TEXT, required=False)
}

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Body over the limit",
    415: "Body is not application/json",
    422: "Invalid parameters or body",
    429: "Rate limit exceeded; wait `Retry-After` seconds",
    503: "The store is unavailable; retry after `Retry-After` seconds",
}


@dataclass(frozen=True)
class RouteFacts:
    """What a route's dependencies and parameters say about the answers it can give."""

    role: Role | None
    scheme: str | None
    store: bool
    path_params: bool
    cursor: bool
    body: bool
    validated: bool


Reason = tuple[str, str]  # (error code, when)
Rule = tuple[int, Callable[[RouteFacts], bool], Reason]

RULES: list[Rule] = [
    (400, lambda _: True, ("unsupported_character", "the URL holds U+0000")),
    (400, lambda f: f.cursor, ("bad_cursor", "`cursor` is not one this server issued")),
    (400, lambda f: f.body, ("malformed_json", "the body is not valid JSON")),
    (400, lambda f: f.body, ("json_too_deep", "the body nests deeper than 64 levels")),
    (400, lambda f: f.body, ("unsupported_character", "a string in the body holds it")),
    (400, lambda f: f.body, ("bad_request", "Content-Length is not a number")),
    (401, lambda f: f.role is not None, ("unauthorized", "missing, unknown or expired token")),
    (401, lambda f: f.role is Role.producer, ("signature_missing", "no X-CT-Signature")),
    (401, lambda f: f.role is Role.producer, ("bad_signature", "the HMAC does not match")),
    (401, lambda f: f.role is Role.producer, ("bad_timestamp", "X-CT-Timestamp is not digits")),
    (401, lambda f: f.role is Role.producer, ("stale_timestamp", "X-CT-Timestamp is too far")),
    (403, lambda f: f.role is not None, ("insufficient_role", "the token's role is too low")),
    (404, lambda f: f.path_params, ("not_found", "nothing by that id or name")),
    (413, lambda f: f.body, ("payload_too_large", "`details.limit_bytes` says the limit")),
    (415, lambda f: f.body, ("unsupported_media_type", "Content-Type is not application/json")),
    (422, lambda f: f.validated, ("validation_failed", "`details` lists `{field, message}`")),
    (429, lambda f: f.role is not None, ("rate_limited", "per token, or per address without")),
    (503, lambda f: f.store, ("store_unavailable", "the database is unreachable or busy")),
]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    event_in = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(event_in.pop("$defs", {}))
    schemas["EventIn"] = event_in
    schemas["BatchIn"] = {
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
    schemas["ErrorBody"] = ERROR_BODY_SCHEMA
    components["headers"] = HEADERS
    components["securitySchemes"] = SECURITY_SCHEMES
    for method, path, dependant in _schema_routes(app):
        operation = schema["paths"][path][method]
        facts = _facts(dependant, operation)
        operation["security"] = _security(facts)
        operation["description"] = _join(operation.get("description"), _who(facts))
        operation["responses"] = _responses(method, path, operation["responses"], facts)
    schema["tags"] = [{"name": tag} for tag in _tags(schema["paths"])]
    if FASTAPI_422 not in json.dumps(schema["paths"]):
        # FastAPI's own 422 body ({"detail": [...]}) is never answered: the handler answers
        # the ErrorBody. Its components go with it.
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    # A plain tree: the parts shared above would otherwise be YAML anchors in the export.
    app.openapi_schema = json.loads(json.dumps(schema))
    return app.openapi_schema


def _schema_routes(app: FastAPI) -> Iterator[tuple[str, str, Dependant]]:
    """(method, path, dependency tree) of every operation in the document, as served."""
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        for method in sorted(context.methods or ()):
            yield method.lower(), str(context.path_format), context.dependant


def _calls(dependant: Dependant) -> Iterator[Any]:
    """The endpoint and every dependency under it."""
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _facts(dependant: Dependant, operation: dict[str, Any]) -> RouteFacts:
    calls = list(_calls(dependant))
    roles = [r for c in calls if isinstance(r := getattr(c, "required_role", None), Role)]
    schemes = [s for c in calls if isinstance(s := getattr(c, "public_auth", None), str)]
    parameters = operation.get("parameters", [])
    return RouteFacts(
        role=roles[0] if roles else None,
        scheme=schemes[0] if schemes else None,
        # The store is reached through the running context; a token is resolved from it.
        store=bool(roles) or any(c is get_context for c in calls),
        path_params=any(p["in"] == "path" for p in parameters),
        cursor=any(p["in"] == "query" and p["name"] == "cursor" for p in parameters),
        body="requestBody" in operation,
        validated=bool(parameters) or "requestBody" in operation,
    )


def _security(facts: RouteFacts) -> list[dict[str, list[str]]]:
    if facts.role is Role.producer:
        # Producers sign every request they send, with the secret their token came with.
        return [{"bearer": [], "signature": []}]
    if facts.role is not None:
        return [{"bearer": []}]
    if facts.scheme in SCHEMES:
        return [{SCHEMES[facts.scheme][0]: []}]
    return []


def _who(facts: RouteFacts) -> str:
    if facts.role is Role.producer:
        return "Who: a producer token, and the body signed with its secret (`X-CT-Signature`)."
    if facts.role is not None:
        return f"Who: a token with the `{facts.role.value}` role or a higher one."
    if facts.scheme in SCHEMES:
        name, who = SCHEMES[facts.scheme]
        return f"Who: {who} (`{name}`)."
    return "Who: anyone; no authentication."


def _join(*parts: str | None) -> str:
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def _tags(paths: dict[str, Any]) -> list[str]:
    """Every operation's tags, in the order they first appear."""
    seen: dict[str, None] = {}
    for item in paths.values():
        for operation in item.values():
            seen.update(dict.fromkeys(operation.get("tags", [])))
    return list(seen)


def _responses(
    method: str, path: str, documented: dict[str, Any], facts: RouteFacts
) -> dict[str, Any]:
    """The route's own responses, each error with the ErrorBody, plus the derived errors."""
    reasons: dict[int, list[Reason]] = {}
    for status, applies, reason in RULES:
        if applies(facts) and reason not in reasons.get(status, []):
            reasons.setdefault(status, []).append(reason)
    if conflicts := CONFLICTS.get((method, path)):
        reasons.setdefault(409, []).extend(conflicts)
    responses = dict(documented)
    if _is_fastapis_422(responses.get("422")):
        del responses["422"]
    for status, why in reasons.items():
        key = str(status)
        if (method, path, key) in OWN_ERROR_BODIES:
            continue
        own = responses.get(key, {}).get("description")
        responses[key] = {"description": _describe(own, TITLES[status], why)}
    for key, response in responses.items():
        if int(key) >= 400 and (method, path, key) not in OWN_ERROR_BODIES:
            response["content"] = {"application/json": {"schema": ERROR_BODY}}
            response.update(_error_headers(int(key), facts))
    return dict(sorted(responses.items()))


def _is_fastapis_422(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == FASTAPI_422)


def _describe(own: str | None, title: str, reasons: list[Reason]) -> str:
    """The route's own words for a status (kept), or a title; then the codes derived here."""
    whens: dict[str, list[str]] = {}
    for code, when in reasons:
        whens.setdefault(code, []).append(when)
    codes = "; ".join(f"`{code}`: {' or '.join(texts)}" for code, texts in whens.items())
    if own:
        return f"{own.rstrip('.')}. Codes include {codes}."
    return f"{title}. Codes: {codes}."


def _error_headers(status: int, facts: RouteFacts) -> dict[str, Any]:
    if status == 429:
        return {"headers": dict(RATE_LIMITED_HEADERS)}
    if status == 503:
        return {"headers": dict(RETRY_AFTER)}
    if status == 401 and facts.role is not None:
        return {"headers": dict(WWW_AUTHENTICATE)}
    return {}
