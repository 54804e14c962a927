"""The registry of the service queries behind the panels: the spec's `query` names → functions
of a read connection and a `PanelRequest` (dashboards/panels/). A panel naming a query that is
not here fails tests/dashboards/test_spec.py."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from control_tower.dashboards.panels import ci, events, exceptions, finance, health, runs
from control_tower.dashboards.schemas import PanelData, PanelRequest
from control_tower.kit.errors import NotFound

QueryFn = Callable[[Connection, PanelRequest], PanelData]

QUERIES: dict[str, QueryFn] = {
    "health.overall": health.overall,
    "health.systems": health.systems,
    "health.history": health.history,
    "alerts.open": health.open_alerts,
    "events.per_hour_by_type": events.per_hour_by_type,
    "events.list": events.event_list,
    "runs.success_rate": runs.success_rate,
    "runs.duration": runs.duration,
    "runs.failure_reasons": runs.failure_reasons,
    "runs.recent": runs.recent,
    "finance.summary": finance.summary,
    "finance.per_day": finance.per_day,
    "finance.currencies": finance.currencies,
    "ci.status": ci.status,
    "ci.failures_by_repo": ci.by_repo,
    "ci.failures": ci.table,
    "dlq.now": exceptions.queue_now,
    "dlq.depth_over_time": exceptions.depth_over_time,
    "dlq.dead": exceptions.dead_letters,
    "errors.top_types": exceptions.top_types,
    "errors.top_functions": exceptions.top_functions,
}


def run_query(conn: Connection, name: str, request: PanelRequest) -> PanelData:
    fn = QUERIES.get(name)
    if fn is None:
        raise NotFound(f"no dashboard query {name!r}")
    return fn(conn, request)
