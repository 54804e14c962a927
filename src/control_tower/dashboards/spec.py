"""The dashboards spec: its shape, loading it from the package, and its Markdown rendering."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from control_tower.auth.roles import Role

PanelKind = Literal["status_grid", "stat", "table", "time_series", "bar"]
Unit = Literal["count", "percent", "seconds", "minor_units"]
_WINDOW = re.compile(r"^([1-9][0-9]*)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """`15m`, `24h`, `7d` as a timedelta."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(f"not a window: {text!r}; expected e.g. 15m, 24h, 7d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Panel(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    kind: PanelKind
    query: str = Field(description="A name registered in dashboards/queries.py (QUERIES).")
    window: str | None = Field(default=None, description="What it reads: 24h, 7d…; none: now.")
    refresh_seconds: int | None = Field(default=None, ge=5, description="Else the dashboard's.")
    promql: str | None = Field(default=None, description="What Grafana draws it from.")
    unit: Unit = "count"
    stacked: bool = False
    description: str = ""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value

    @property
    def span(self) -> timedelta | None:
        return parse_window(self.window) if self.window else None


class Dashboard(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    path: str = Field(pattern=r"^/ui/[a-z0-9/_-]*$")
    role: Role = Role.viewer
    refresh_seconds: int = Field(ge=5)
    description: str = ""
    panels: list[Panel] = Field(min_length=1)

    def panel(self, panel_id: str) -> Panel:
        return next(p for p in self.panels if p.id == panel_id)

    def refresh_of(self, panel: Panel) -> int:
        return panel.refresh_seconds or self.refresh_seconds


class Spec(_Strict):
    version: Literal[1]
    dashboards: list[Dashboard]

    def dashboard(self, dashboard_id: str) -> Dashboard:
        return next(d for d in self.dashboards if d.id == dashboard_id)

    def panels(self) -> list[tuple[Dashboard, Panel]]:
        return [(d, p) for d in self.dashboards for p in d.panels]


def parse_spec(text: str) -> Spec:
    return Spec.model_validate(yaml.safe_load(text))


@functools.cache
def load_spec() -> Spec:
    """The spec shipped in the package (read once: it is part of the code)."""
    return parse_spec(resources.files(__package__).joinpath("spec.yaml").read_text("utf-8"))


def spec_markdown(spec: Spec) -> str:
    """docs/control_tower/dashboards_spec.md: the spec as people read it."""
    out = [
        "# Dashboards spec",
        "",
        "Generated from `src/control_tower/dashboards/spec.yaml` by `ct docs`; do not edit.",
        "The UI pages, the Grafana export (`ct dashboards export --grafana DIR`) and this page",
        "come from that one file. See [../dashboards.md](../dashboards.md) for how to read them.",
        "",
        "Kinds: `status_grid`, `stat`, `table`, `time_series`, `bar`. A window is what a panel",
        "reads (`24h`, `7d`, …; `now` when it has none).",
    ]
    for d in spec.dashboards:
        out += [
            "",
            f"## {d.title} (`{d.id}`)",
            "",
            f"{d.description}",
            "",
            f"Page `{d.path}` · role {d.role.value}+ · refreshes every {d.refresh_seconds} s",
            "",
            "| panel | kind | query | window | refresh | Prometheus (Grafana) |",
            "|---|---|---|---|---|---|",
        ]
        for p in d.panels:
            expr = f"`{p.promql}`" if p.promql else "— (CT only)"
            out.append(
                f"| {p.title} (`{p.id}`) | {p.kind} | `{p.query}` | {p.window or 'now'} "
                f"| {d.refresh_of(p)} s | {expr.replace('|', '&#124;')} |"
            )
    return "\n".join(out) + "\n"
