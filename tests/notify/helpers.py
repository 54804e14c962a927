"""Building catalogues with channels, queuing messages and delivery workers for the tests."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, select

from control_tower.catalog import Catalog, load_default_catalog
from control_tower.catalog.channels import Channel
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.models import notification_attempts, notifications
from control_tower.notify.service import Link, Message, enqueue
from control_tower.notify.worker import DeliveryWorker, StepResult

CHANNEL = TypeAdapter(Channel)
FAST_RETRY = {"max_attempts": 3, "base_seconds": 10, "max_seconds": 60}


def catalog_with(*channels: Mapping[str, Any]) -> Catalog:
    """The default catalogue with these channels."""
    specs = [CHANNEL.validate_python(dict(c)) for c in channels]
    return load_default_catalog().model_copy(update={"channels": specs})


def alert_message(**overrides: Any) -> Message:
    values: dict[str, Any] = {
        "kind": "alert",
        "title": "backend.fn.error: 4 high errors in 10 min",
        "text": "*generateInvoice* failed 4 times.\nRunbook below.",
        "severity": "critical",
        "dedup_key": "alert:backend-errors",
        "links": (
            Link("https://ct.swan.internal/ui/systems/backend", "Backend in CT"),
            Link("https://runbooks.swan.internal/backend-errors", "Runbook"),
        ),
        "details": {"rule": "backend-errors", "count": 4},
        "component": "generateInvoice",
        "group": "backend",
        "event_class": "backend.fn.error",
    }
    values.update(overrides)
    return Message(**values)


def queue(
    engine: Engine,
    catalog: Catalog,
    channel: str,
    message: Message,
    *,
    now: datetime,
    key: str = "k-1",
) -> bool:
    with unit_of_work(engine) as conn:
        return enqueue(conn, catalog, channel, message, now=now, key=key)


def worker(
    engine: Engine,
    catalog: Catalog,
    clock: Clock,
    env: Mapping[str, str],
    *,
    name: str = "w1",
    lease_seconds: float = 60.0,
) -> DeliveryWorker:
    return DeliveryWorker(
        engine=engine,
        catalog=catalog,
        clock=clock,
        env=env,
        worker_id=name,
        rng=random.Random(7),
        lease_seconds=lease_seconds,
    )


def rows(engine: Engine) -> list[Any]:
    with unit_of_work(engine, write=False) as conn:
        return list(conn.execute(select(notifications).order_by(notifications.c.id)))


def attempts(engine: Engine) -> list[Any]:
    with unit_of_work(engine, write=False) as conn:
        query = select(notification_attempts).order_by(notification_attempts.c.id)
        return list(conn.execute(query))


def action(step: StepResult | None) -> str | None:
    """What one `deliver_once` did, None when nothing was due."""
    return None if step is None else step.action
