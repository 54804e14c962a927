"""Generated docs: the OpenAPI document and the canonical JSON Schemas, from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from control_tower.dashboards.spec import load_spec, spec_markdown
from control_tower.events.schemas import Event, EventIn
from control_tower.health.schemas import System
from control_tower.kit.common import Money
from control_tower.reports.schemas import DailyDigest, WeeklyTrend
from control_tower.runs.schemas import Run

OPENAPI_PATH = Path("docs/design/openapi/control_tower.yaml")
SCHEMAS_DIR = Path("docs/control_tower/schemas")
DASHBOARDS_SPEC_PATH = Path("docs/control_tower/dashboards_spec.md")


def openapi_yaml() -> str:
    from control_tower.app import create_app
    from control_tower.settings import Settings

    spec = create_app(Settings()).openapi()
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def _schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://control-tower.swan/schemas/{name}.json",
        **schema,
    }


def json_schemas() -> dict[str, str]:
    common = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://control-tower.swan/schemas/common.json",
        "title": "Common types",
        "$defs": {
            "Money": Money.model_json_schema(),
            "Identifier": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"},
            "Timestamp": {"type": "string", "format": "date-time"},
        },
    }
    out = {"common.json": common}
    for model, name in ((EventIn, "event_in"), (Event, "event"), (Run, "run"), (System, "system")):
        out[f"{name}.json"] = _schema(model, name)
    for report, name in ((DailyDigest, "daily_digest"), (WeeklyTrend, "weekly_trend")):
        out[f"{name}.json"] = _schema(report, name)
    return {name: json.dumps(body, indent=2, sort_keys=True) + "\n" for name, body in out.items()}


def write_all(root: Path) -> list[Path]:
    written = []
    target = root / OPENAPI_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(openapi_yaml())
    written.append(target)
    for name, text in json_schemas().items():
        path = root / SCHEMAS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    spec_doc = root / DASHBOARDS_SPEC_PATH  # the dashboards spec as people read it
    spec_doc.write_text(spec_markdown(load_spec()))
    written.append(spec_doc)
    return written
