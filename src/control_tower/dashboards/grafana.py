"""Grafana dashboards from the spec: one JSON model per dashboard over CT's /metrics.

Each panel with a Prometheus expression becomes the Grafana panel of its kind (status grids
and stats as stat or state-timeline panels with the status words as value mappings, tables as
instant tables, time series as time series, bars as bar gauges); a panel with none (its data
lives only in CT's store) becomes a text panel linking to the CT page that shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from control_tower.dashboards.spec import Dashboard, Panel, Spec

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "GREEN", "color": "green", "index": 0},
            "1": {"text": "AMBER", "color": "orange", "index": 1},
            "2": {"text": "RED", "color": "red", "index": 2},
            "3": {"text": "UNKNOWN", "color": "text", "index": 3},
        },
    }
]
UNITS = {"count": "short", "percent": "percentunit", "seconds": "s", "minor_units": "none"}
WIDTH = {"stat": 6, "status_grid": 24, "table": 24, "time_series": 24, "bar": 12}
HEIGHT = {"stat": 4, "status_grid": 8, "table": 9, "time_series": 9, "bar": 8}


def _status_metric(panel: Panel) -> bool:
    return bool(panel.promql and "ct_system_status" in panel.promql)


def _panel_type(panel: Panel) -> str:
    if not panel.promql:
        return "text"
    if panel.kind == "status_grid":
        return "state-timeline" if panel.window else "stat"
    return {"stat": "stat", "table": "table", "time_series": "timeseries",
            "bar": "bargauge"}[panel.kind]  # fmt: skip


def grafana_panel(dashboard: Dashboard, panel: Panel, number: int, base_url: str) -> dict[str, Any]:
    kind = _panel_type(panel)
    body: dict[str, Any] = {
        "id": number,
        "type": kind,
        "title": panel.title,
        "description": panel.description or f"CT query `{panel.query}`",
        "links": [{"title": "Open in Control Tower", "url": base_url + dashboard.path}],
    }
    if kind == "text":
        body["options"] = {
            "mode": "markdown",
            "content": f"Kept in CT's store, not in Prometheus: see [{dashboard.title}]"
            f"({base_url}{dashboard.path}) in Control Tower.",
        }
        return body
    instant = kind in ("stat", "table", "bargauge")
    legend = "{{system}}" if _status_metric(panel) else ""
    body["datasource"] = DATASOURCE
    body["targets"] = [
        {
            "refId": "A",
            "datasource": DATASOURCE,
            "expr": panel.promql,
            "legendFormat": legend or "__auto",
            "instant": instant,
            "range": not instant,
            "format": "table" if kind == "table" else "time_series",
        }
    ]
    defaults: dict[str, Any] = {"unit": UNITS[panel.unit]}
    if _status_metric(panel):
        defaults["mappings"] = STATUS_MAPPINGS
        defaults["color"] = {"mode": "thresholds"}
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1},
                      {"color": "red", "value": 2}, {"color": "text", "value": 3}],
        }  # fmt: skip
    if kind == "timeseries":
        stack = "normal" if panel.stacked else "none"
        defaults["custom"] = {"stacking": {"mode": stack}, "drawStyle": "bars" if
                              panel.stacked else "line", "fillOpacity": 60}  # fmt: skip
    body["fieldConfig"] = {"defaults": defaults, "overrides": []}
    if kind == "stat":
        body["options"] = {"colorMode": "background", "textMode": "value_and_name",
                           "reduceOptions": {"calcs": ["lastNotNull"]}}  # fmt: skip
    if kind == "bargauge":
        body["options"] = {"orientation": "horizontal", "displayMode": "basic",
                           "reduceOptions": {"calcs": ["lastNotNull"]}}  # fmt: skip
    if kind == "state-timeline":
        body["options"] = {"showValue": "never", "mergeValues": True}
    return body


def grafana_dashboard(dashboard: Dashboard, base_url: str) -> dict[str, Any]:
    panels, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(dashboard.panels, start=1):
        body = grafana_panel(dashboard, panel, number, base_url)
        width = WIDTH[panel.kind] if body["type"] != "text" else 12
        height = HEIGHT[panel.kind] if body["type"] != "text" else 4
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        body["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
        x, row_height = x + width, max(row_height, height)
        panels.append(body)
    longest = max((p.window for p in dashboard.panels if p.window), default="24h",
                  key=lambda w: _hours(w))  # fmt: skip
    return {
        "uid": f"ct-{dashboard.id}",
        "title": f"Control Tower · {dashboard.title}",
        "description": dashboard.description,
        "tags": ["control-tower"],
        "timezone": "utc",
        "editable": True,
        "schemaVersion": 39,
        "refresh": f"{dashboard.refresh_seconds}s",
        "time": {"from": f"now-{longest}", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "links": [{"title": "Control Tower", "url": base_url + dashboard.path, "type": "link"}],
        "panels": panels,
    }


def _hours(window: str) -> int:
    amount, unit = int(window[:-1]), window[-1]
    return amount * {"m": 1, "h": 60, "d": 1440}[unit]


def export(spec: Spec, directory: Path, base_url: str) -> list[Path]:
    """Write one `<id>.json` per dashboard into `directory`; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in spec.dashboards:
        path = directory / f"{dashboard.id}.json"
        model = grafana_dashboard(dashboard, base_url.rstrip("/"))
        path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
