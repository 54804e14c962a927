"""Catalogue section: When reports are made and where they go (reports/ fills it in)."""

from __future__ import annotations

from control_tower.catalog.types import Strict


class ReportsSpec(Strict):
    """When reports are made and where they go (reports/ fills it in)."""
