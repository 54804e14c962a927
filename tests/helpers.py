"""Test helpers: signed producers, staff tokens and event builders."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select

from control_tower.app import build_router
from control_tower.auth.roles import Role
from control_tower.auth.tokens import IssuedToken
from control_tower.catalog import Catalog
from control_tower.kit.clock import Clock
from control_tower.kit.signing import sign
from control_tower.models import audit_log, events
from control_tower.routing.handlers import Handler, HandlerRegistry
from control_tower.routing.router import Router, RouterConfig

T = TypeVar("T")

# Stores one event as received now by the test clock; returns its id (see conftest `emit`).
Emit = Callable[..., str]


def iso(instant: datetime) -> str:
    """An instant as producers write it: ISO-8601 in UTC with `Z`."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_router(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    config: RouterConfig | None = None,
    *,
    name: str | None = None,
    handlers: list[Handler] | None = None,
) -> Router:
    """A router with the app's handlers, as `ct serve` builds it, or with test `handlers`."""
    if handlers is None:
        return build_router(engine, catalog, clock, config, name=name)[0]
    registry = HandlerRegistry()
    for number, handler in enumerate(handlers):
        registry.add(f"test-{number}", handler)
    return Router(engine, catalog, clock, config, registry, name=name)


def make_event(
    event_type: str = "backend.fn.error",
    source: str = "backend",
    event_id: str | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: str | datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid event. `occurred_at` defaults to a second before the process clock's now, the
    clock the suite's `clock` fixture starts from, so the event is recent for the app under
    test whatever the date; a test that moves its clock passes `occurred_at` from it."""
    when = occurred_at if occurred_at is not None else datetime.now(UTC) - timedelta(seconds=1)
    body = {
        "event_id": event_id or f"evt-{uuid.uuid4().hex}",
        "type": event_type,
        "occurred_at": iso(when) if isinstance(when, datetime) else when,
        "source": source,
        "payload": payload
        if payload is not None
        else {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "logs/1"},
    }
    body.update(extra)
    return body


@dataclass
class Producer:
    issued: IssuedToken

    @property
    def token(self) -> str:
        return self.issued.token

    @property
    def secret(self) -> str:
        assert self.issued.hmac_secret is not None
        return self.issued.hmac_secret

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "X-CT-Signature": sign(self.secret, body, timestamp),
        }
        if timestamp is not None:
            headers["X-CT-Timestamp"] = timestamp
        return headers

    def signed(self, value: Any) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(value).encode()
        return body, self.headers(body)


@dataclass
class Staff:
    tokens: dict[Role, IssuedToken]

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role].token}"}


def cli_env(database_url: str, data_dir: Path, secret_key: str) -> dict[str, str]:
    """The environment a `ct` command needs to work on the test store."""
    return {
        "CT_DATABASE_URL": database_url,
        "CT_DATA_DIR": str(data_dir),
        "CT_SECRET_KEY": secret_key,
    }


@dataclass(frozen=True)
class StoreCounts:
    events: int
    audit_rows: int


def store_counts(engine: Engine) -> StoreCounts:
    """How many events and audit rows the store holds: bad input must change neither."""
    with engine.connect() as conn:
        return StoreCounts(
            events=int(conn.execute(select(func.count()).select_from(events)).scalar_one()),
            audit_rows=int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one()),
        )


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The uniform error body {"error": {"code", "message", "details"}} with this status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def error_fields(error: dict[str, Any]) -> list[str]:
    details = error["details"] or []
    return [d["field"] for d in details if isinstance(d, dict) and "field" in d]


def process_running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(check: Callable[[], T], timeout: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value
