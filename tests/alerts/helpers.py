"""Reading alerts back, and driving evaluation and notification with the test clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Row, select, update

from control_tower.alerts.conditions import evaluate_rules
from control_tower.alerts.lifecycle import send_due
from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import FrozenClock
from control_tower.models import alert_events, alerts, event_routes, notifications
from tests.helpers import Emit

HIGH = {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "logs/1"}


def fn_error(emit: Emit, severity: str = "high", fn_name: str = "generateInvoice") -> str:
    """A backend.fn.error received now, that occurred now (so windows are exact)."""
    payload = {"fn_name": fn_name, "severity": severity, "stack_ref": "logs/1"}
    return emit("backend.fn.error", "backend", payload, late=timedelta(0))


def all_alerts(engine: Engine) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(select(alerts).order_by(alerts.c.id)))


def only_alert(engine: Engine) -> Row[Any]:
    found = all_alerts(engine)
    assert len(found) == 1, found
    return found[0]


def history(engine: Engine, alert_id: int) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(alert_events)
                .where(alert_events.c.alert_id == alert_id)
                .order_by(alert_events.c.seq)
            )
        )


def sent(engine: Engine, alert_id: int | None = None) -> list[str]:
    """The actions of the notifications queued (for one alert, or all), in order."""
    with engine.connect() as conn:
        query = select(alert_events.c.details).where(alert_events.c.kind == "notified")
        if alert_id is not None:
            query = query.where(alert_events.c.alert_id == alert_id)
        return [row.details["action"] for row in conn.execute(query.order_by(alert_events.c.seq))]


def outbox(engine: Engine) -> list[Row[Any]]:
    """notify's outbox rows, oldest first."""
    with engine.connect() as conn:
        return list(conn.execute(select(notifications).order_by(notifications.c.id)))


def evaluate(engine: Engine, catalog: Catalog, clock: FrozenClock) -> None:
    """One `alerts:evaluate` pass at the clock's now."""
    with unit_of_work(engine) as conn:
        evaluate_rules(conn, catalog, clock.now())


def notify(engine: Engine, catalog: Catalog, clock: FrozenClock) -> int:
    """One `alerts:notify` pass at the clock's now; notifications queued."""
    with unit_of_work(engine) as conn:
        return send_due(conn, catalog, clock.now())


def kill(engine: Engine, *event_ids: str) -> None:
    """Put events in the DLQ, as the router does after their last failed attempt."""
    with unit_of_work(engine) as conn:
        conn.execute(
            update(event_routes)
            .where(event_routes.c.event_id.in_(event_ids))
            .values(status="dead", last_error="test")
        )
