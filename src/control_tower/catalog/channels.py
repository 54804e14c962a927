"""Catalogue section: A notification channel (notify/ fills it in)."""

from __future__ import annotations

from control_tower.catalog.types import Strict


class Channel(Strict):
    """A notification channel (notify/ fills it in)."""

    name: str
