"""What a panel's query answers, one shape per panel kind, and what it is asked.

Queries fill these from services and repositories; the UI draws them (tables and status
grids as HTML, series as server-side SVG charts) and `/metrics` exports some as gauges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from control_tower.auth.roles import Role
from control_tower.catalog import Catalog


@dataclass(frozen=True)
class PanelRequest:
    """What a query is asked: the catalogue, the clock's now, the panel's window and the page's
    filters (the query string)."""

    catalog: Catalog
    now: datetime
    window: timedelta | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    # Shared by the panels of one page load: a read two panels need is done once.
    scratch: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def since(self) -> datetime:
        return self.now - (self.window or timedelta(days=1))


@dataclass(frozen=True)
class Action:
    """A button posting a CSRF-checked form to `url`, shown to `role` and above."""

    label: str
    url: str
    role: Role
    confirm: str = ""


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None
    status: str | None = None  # green|amber|red|unknown: a badge that says the word too
    code: bool = False
    action: Action | None = None


@dataclass
class TableData:
    columns: list[str]
    rows: list[list[Cell]]
    next_cursor: str | None = None
    note: str = ""
    empty: str = "nothing in this window"


@dataclass
class SeriesData:
    """Values per x label, one list per named series (None: no value)."""

    x_labels: list[str]
    series: list[tuple[str, list[float | None]]]
    note: str = ""

    @property
    def empty(self) -> bool:
        return not any(v for _, values in self.series for v in values)


@dataclass(frozen=True)
class StatItem:
    label: str
    value: str
    status: str | None = None
    detail: str = ""
    href: str | None = None


@dataclass
class StatData:
    items: list[StatItem]
    note: str = ""


@dataclass(frozen=True)
class StatusCell:
    label: str  # the day, or the objective
    status: str
    detail: str = ""


@dataclass
class StatusRow:
    system_id: str
    name: str
    status: str
    reasons: list[str] = field(default_factory=list)
    last_update: datetime | None = None
    status_since: datetime | None = None
    cells: list[StatusCell] = field(default_factory=list)
    errors_24h: int = 0


@dataclass
class StatusGridData:
    rows: list[StatusRow]
    columns: list[str] = field(default_factory=list)  # day labels for a history strip
    note: str = ""


PanelData = TableData | SeriesData | StatData | StatusGridData
