"""Features plug into routing through the handler registry, and into health's status changes
through the status-change hook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from control_tower.app import build_router, routing_handlers
from control_tower.catalog import Catalog
from control_tower.health.hooks import StatusChangeHook, SystemStatusChange
from control_tower.health.tasks import StatusTracker
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log, system_status_changes
from control_tower.routing.handlers import HandlerRegistry
from tests.helpers import Emit, new_router


def test_the_app_registers_health_and_correlations(engine: Engine, catalog: Catalog) -> None:
    tracker = StatusTracker(engine, catalog, StatusChangeHook())
    names = routing_handlers(tracker).names()
    assert names[:2] == ["health", "correlations"]  # health first: later handlers read it
    assert "alerts" in names
    with pytest.raises(ValueError, match="already registered"):
        routing_handlers(tracker).add("health", tracker.handler)


def test_a_registered_handler_sees_each_event_once_even_when_a_batch_fails(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit
) -> None:
    seen: list[str] = []
    failed_once: set[str] = set()

    def counts(_catalog: Catalog, rows: Sequence[Mapping[Any, Any]]) -> Any:
        ids = [row["event_id"] for row in rows]

        def write(_conn: Connection) -> None:
            if "e-00002" in ids and "e-00002" not in failed_once:
                failed_once.add("e-00002")
                raise RuntimeError("first try fails")  # the batch rolls back; retried alone
            seen.extend(ids)

        return write

    ids = [emit("system.heartbeat", "backend", {"system_id": "backend"}) for _ in range(3)]
    router = new_router(engine, catalog, clock, handlers=[counts])
    router.drain()
    clock.advance(timedelta(minutes=5))  # past the retry's backoff
    router.drain()
    assert sorted(seen) == sorted(ids)  # each once, the failed one after its retry


def test_status_change_subscribers_hear_each_change_once_after_routing(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit
) -> None:
    hook = StatusChangeHook()
    heard: list[SystemStatusChange] = []

    def subscriber(conn: Connection, changes: list[SystemStatusChange]) -> None:
        # In the recording transaction: the history row is already there.
        recorded = conn.execute(select(system_status_changes.c.system_id)).scalars().all()
        assert {c.system_id for c in changes} <= set(recorded)
        heard.extend(changes)

    hook.subscribe(subscriber)
    router, tracker = build_router(engine, catalog, clock, status_changes=hook)
    emit("system.heartbeat", "backend", {"system_id": "backend"})
    router.drain()
    tracker.after_pass(clock.now())
    tracker.after_pass(clock.now())  # nothing touched since: nothing evaluated or heard
    assert [(c.system_id, c.from_status.value, c.to_status.value) for c in heard] == [
        ("backend", "unknown", "green")
    ]
    with engine.connect() as conn:  # a status change is not a write by a person or token
        assert conn.execute(select(audit_log)).first() is None


def test_an_empty_registry_routes_without_effects(
    engine: Engine, catalog: Catalog, clock: FrozenClock, emit: Emit
) -> None:
    emit("system.heartbeat", "backend", {"system_id": "backend"})
    router = new_router(engine, catalog, clock, handlers=[])
    assert router.drain().routed == 1
    assert isinstance(router.handlers, HandlerRegistry)
