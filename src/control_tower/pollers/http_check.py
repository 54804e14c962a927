"""The HTTP check: GET a URL, compare status (and optionally a JSON field) with expectations.

A pass is stored as `system.heartbeat`, a failure as `system.check.failed`, both with the
poll's per-slot event id, so running a slot twice never stores two events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.catalog.pollers import HttpPoller
from control_tower.kit.clock import Clock
from control_tower.kit.http_client import build_http_client
from control_tower.pollers.common import (
    PollOutcome,
    check_failed_event,
    heartbeat_event,
    record_poll,
)

log = structlog.get_logger(__name__)
_MISSING = object()


@dataclass(frozen=True)
class CheckResult:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def json_field_value(body: Any, dotted: str) -> Any:
    """The value at a dotted path (`checks.db.status`), or _MISSING."""
    value = body
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def check_http(poller: HttpPoller) -> CheckResult:
    """Perform the check; never raises for what the remote end does."""
    started = time.perf_counter()
    try:
        with build_http_client(poller.timeout_seconds) as client:
            response = client.get(poller.url, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        elapsed = int((time.perf_counter() - started) * 1000)
        return CheckResult(None, elapsed, f"timeout after {poller.timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return CheckResult(None, elapsed, f"connection error: {type(exc).__name__}: {exc}"[:300])
    latency_ms = int((time.perf_counter() - started) * 1000)
    status = response.status_code
    if status != poller.expected_status:
        return CheckResult(
            status, latency_ms, f"status {status}, expected {poller.expected_status}"
        )
    if poller.json_field is not None:
        try:
            body = response.json()
        except ValueError:
            return CheckResult(status, latency_ms, "the response body is not JSON")
        value = json_field_value(body, poller.json_field)
        if value is _MISSING:
            return CheckResult(status, latency_ms, f"JSON field {poller.json_field!r} is missing")
        if value != poller.expected_value:
            return CheckResult(
                status,
                latency_ms,
                f"JSON field {poller.json_field!r} is {value!r}, "
                f"expected {poller.expected_value!r}"[:300],
            )
    return CheckResult(status, latency_ms, None)


def run_http_check(
    engine: Engine, catalog: Catalog, poller: HttpPoller, *, slot: datetime, clock: Clock
) -> PollOutcome:
    result = check_http(poller)
    now = clock.now()
    if result.ok:
        event = heartbeat_event(
            poller.name,
            poller.system,
            slot,
            now,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
        )
        detail = f"status {result.status_code} in {result.latency_ms} ms"
    else:
        assert result.error is not None
        log.warning("http_check_failed", poller=poller.name, error=result.error)
        event = check_failed_event(
            poller.name, poller.system, slot, now, result.error, result.status_code
        )
        detail = result.error
    return record_poll(
        engine,
        catalog,
        poller=poller.name,
        kind=poller.kind,
        raw_events=[event],
        status="ok" if result.ok else "failed",
        detail=detail,
        now=now,
        succeeded=result.ok,
    )
