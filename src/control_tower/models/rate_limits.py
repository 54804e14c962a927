from __future__ import annotations

from sqlalchemy import Column, Float, String, Table

from control_tower.models.base import metadata

# GCRA state: the theoretical arrival time of the next request, in unix seconds.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tat", Float, nullable=False),
)
