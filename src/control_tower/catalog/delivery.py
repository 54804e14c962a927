"""Catalogue sections for what reaches a person: notification channels, alert rules, report
schedules, backups. Each feature (notify/, alerts/, reports/, backups/) owns its section."""

from __future__ import annotations

from control_tower.catalog.types import Strict


class Channel(Strict):
    """A notification channel (notify/ fills it in)."""

    name: str


class AlertRule(Strict):
    """An alert rule (alerts/ fills it in)."""

    name: str


class ReportsSpec(Strict):
    """When reports are made and where they go (reports/ fills it in)."""


class BackupsSpec(Strict):
    """Where and when backups are written, how long they are kept (backups/ fills it in)."""
