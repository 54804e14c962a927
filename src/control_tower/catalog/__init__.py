"""The YAML catalogue: sources, systems, event types (and later triggers, pollers, rules)."""

from control_tower.catalog.loader import (
    CatalogError,
    load_catalog,
    load_configured_catalog,
    load_default_catalog,
)
from control_tower.catalog.model import Catalog

__all__ = [
    "Catalog",
    "CatalogError",
    "load_catalog",
    "load_configured_catalog",
    "load_default_catalog",
]
