"""Alerting's background part: the routing handler (event_rate rules), the status-change
subscriber (system_status rules) and the scheduled jobs — `alerts:evaluate` (every 30 s: the
other kinds, resolution of every kind, old counts pruned) and `alerts:notify` (every 10 s: the
notifications that fell due, such as a first page after `group_wait`)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from control_tower.alerts.conditions import evaluate_rules, on_status_changes
from control_tower.alerts.lifecycle import send_due
from control_tower.alerts.rate import rate_handler
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.health.hooks import StatusSubscriber, SystemStatusChange
from control_tower.scheduler import Every, Job, Slot

EVALUATE_SECONDS = 30
NOTIFY_SECONDS = 10

# The routing handler: event_rate rules fire in the transaction that routes the event.
alert_rate_handler = rate_handler


def alert_status_subscriber(catalog: Catalog) -> StatusSubscriber:
    """For `StatusChangeHook.subscribe`: system_status rules hear each change as it is
    recorded, in its transaction."""

    def subscriber(conn: Connection, changes: list[SystemStatusChange]) -> None:
        on_status_changes(conn, catalog, changes)

    return subscriber


def alert_jobs(engine: Engine, catalog: Catalog) -> list[Job]:
    def evaluate(slot: Slot) -> None:
        with unit_of_work(engine) as conn:
            evaluate_rules(conn, catalog, slot.at)

    def notify(slot: Slot) -> None:
        with unit_of_work(engine) as conn:
            send_due(conn, catalog, slot.at)

    return [
        Job("alerts:evaluate", Every(EVALUATE_SECONDS), evaluate),
        Job("alerts:notify", Every(NOTIFY_SECONDS), notify),
    ]
