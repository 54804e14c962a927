"""Dashboard use cases for the UI: every panel of one dashboard, read in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.dashboards.queries import run_query
from control_tower.dashboards.schemas import PanelData, PanelRequest
from control_tower.dashboards.spec import Dashboard, Panel


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    data: PanelData


def load_dashboard(
    conn: Connection,
    dashboard: Dashboard,
    catalog: Catalog,
    now: datetime,
    params: Mapping[str, str],
) -> list[PanelView]:
    """Each panel's data, in the spec's order."""
    scratch: dict[str, Any] = {}
    views = []
    for panel in dashboard.panels:
        request = PanelRequest(catalog, now, panel.span, params, scratch)
        views.append(PanelView(panel, run_query(conn, panel.query, request)))
    return views
