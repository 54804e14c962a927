"""Catalogue section: An alert rule (alerts/ fills it in)."""

from __future__ import annotations

from control_tower.catalog.types import Strict


class AlertRule(Strict):
    """An alert rule (alerts/ fills it in)."""

    name: str
