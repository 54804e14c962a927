"""Delivery as a background loop of a CT process (`ct serve` or `ct worker`), and its health
objective."""

from __future__ import annotations

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.health.objectives import ObjectiveRegistry
from control_tower.kit.clock import Clock
from control_tower.notify.health import delivery_reasons
from control_tower.notify.worker import DeliveryWorker
from control_tower.settings import Settings


def build_delivery_worker(engine: Engine, catalog: Catalog, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(engine=engine, catalog=catalog, clock=clock)


def delivery_enabled(settings: Settings, catalog: Catalog) -> bool:
    """Deliver when turned on and the catalogue declares a channel to deliver to."""
    return settings.notify_enabled and bool(catalog.channels)


def register_delivery_objective(objectives: ObjectiveRegistry) -> None:
    objectives.add("notify", delivery_reasons)
