"""Catalogue section: where and when backups are written, and how long they are kept."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import Field, field_validator, model_validator

from control_tower.catalog.types import Strict
from control_tower.scheduler import Schedule, parse_schedule


class BackupTiers(Strict):
    """How long backups are kept (docs/backups.md, "Retention tiers"): every backup that is
    the newest of its calendar day is kept `daily_days`, the newest of its ISO week
    `weekly_days`, the newest of its month `monthly_days`, in the zone of the schedule."""

    daily_days: int = Field(default=30, ge=1, description="Days the newest of each day is kept.")
    weekly_days: int = Field(
        default=180, ge=1, description="Days the newest of each ISO week is kept."
    )
    monthly_days: int = Field(
        default=365, ge=1, description="Days the newest of each month is kept."
    )


class BackupsSpec(Strict):
    """Where and when backups are written, how long they are kept, and when events are pruned."""

    destination: str | None = Field(
        default=None,
        description="A folder, or an fsspec URL such as gs://bucket/ct; default "
        "<CT_DATA_DIR>/backups.",
    )
    schedule: str = Field(
        default="daily at 02:30 Europe/London", description="When the nightly backup runs."
    )
    keep: BackupTiers = Field(default_factory=BackupTiers)
    event_retention_days: int = Field(
        default=400,
        ge=1,
        description="Events that occurred longer ago are pruned, once a verified backup holds "
        "them.",
    )
    retention_schedule: str = Field(
        default="daily at 03:30 Europe/London", description="When old events are pruned."
    )
    stale_after_hours: float = Field(
        default=26,
        gt=0,
        description="Without a successful backup for this long, `system` turns red.",
    )
    system: str = Field(
        default="ct", description="The system whose health carries the backup objective."
    )

    @field_validator("schedule", "retention_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)  # a ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _retention_outlives_backups(self) -> BackupsSpec:
        # Pruning keeps the events the newest backup holds; a shorter retention than the
        # daily tier would leave nothing to restore recent events from.
        if self.event_retention_days < self.keep.daily_days:
            raise ValueError("event_retention_days must be at least keep.daily_days")
        return self

    @cached_property
    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule)

    @cached_property
    def parsed_retention_schedule(self) -> Schedule:
        return parse_schedule(self.retention_schedule)


def backups_reference_problems(
    data: Any, system_ids: set[Any]
) -> list[tuple[tuple[Any, ...], str]]:
    """The system the backup objective weighs on must be one the catalogue declares."""
    section = data.get("backups") if isinstance(data, dict) else None
    system = section.get("system") if isinstance(section, dict) else None
    if isinstance(system, str) and system not in system_ids:
        return [(("backups", "system"), f"unknown system {system!r}")]
    return []
