"""Dashboard use cases for the UI: every panel of one dashboard, read in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.dashboards import repository
from control_tower.dashboards.queries import run_query
from control_tower.dashboards.schemas import PanelData, PanelRequest
from control_tower.dashboards.spec import Dashboard, Panel

# Which tables a feature needs before its panels show.
FEATURE_TABLES = {"alerts": "alerts", "reports": "report_archive"}


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    data: PanelData


def features(tables: frozenset[str]) -> set[str]:
    return {name for name, table in FEATURE_TABLES.items() if table in tables}


def load_dashboard(
    conn: Connection,
    dashboard: Dashboard,
    catalog: Catalog,
    now: datetime,
    params: Mapping[str, str],
) -> tuple[list[PanelView], set[str]]:
    """Each panel's data (the panels whose feature is missing are left out), and the features
    the store has (the page links alerts and reports only when they exist)."""
    tables = repository.present_tables(conn)
    have = features(tables)
    scratch: dict[str, Any] = {}
    views = []
    for panel in dashboard.panels:
        if panel.requires is not None and panel.requires not in have:
            continue
        request = PanelRequest(catalog, now, panel.span, params, tables, scratch)
        views.append(PanelView(panel, run_query(conn, panel.query, request)))
    return views, have


def store_features(conn: Connection) -> set[str]:
    return features(repository.present_tables(conn))
