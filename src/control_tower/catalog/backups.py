"""Catalogue section: where and when backups are written, and how long they are kept."""

from __future__ import annotations

from control_tower.catalog.types import Strict


class BackupsSpec(Strict):
    """Where and when backups are written and how long they are kept (backups/ fills it in)."""
