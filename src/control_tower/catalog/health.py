"""Catalogue pieces that say how a system's health is judged: business hours, heartbeats, SLOs."""

from __future__ import annotations

from datetime import time
from functools import cached_property
from typing import Literal

import holidays
from pydantic import Field, model_validator

from control_tower.catalog.types import WEEKDAYS, Strict, Weekday, ZoneName

_SUBDIVISIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}


class BusinessHoursSpec(Strict):
    """When a silent system matters.

    Default: Mon–Fri 08:00–18:00 Europe/London, England and Wales bank holidays off.
    """

    always: bool = Field(default=False, description="24/7: every hour is a business hour.")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    start: time = time(8, 0)
    end: time = time(18, 0)
    timezone: ZoneName = "Europe/London"
    bank_holidays: Literal["england-and-wales", "scotland", "northern-ireland", "none"] = (
        "england-and-wales"
    )

    @cached_property
    def holiday_calendar(self) -> holidays.HolidayBase | None:
        """The bank holidays of `bank_holidays`, built once for the life of the catalogue."""
        if self.bank_holidays == "none":
            return None
        return holidays.country_holidays("GB", subdiv=_SUBDIVISIONS[self.bank_holidays])

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHoursSpec:
        if not self.always and self.start >= self.end:
            raise ValueError("business hours must start before they end")
        return self


class HeartbeatSpec(Strict):
    expected_every_minutes: int = Field(default=5, ge=1, description="Normal cadence.")
    amber_after_minutes: int = Field(
        default=15, ge=1, description="Business-hours gap that turns the system amber."
    )
    red_after_minutes: int = Field(
        default=30, ge=1, description="Business-hours gap that turns the system red."
    )


class ErrorsSpec(Strict):
    amber_at: int = Field(default=3, ge=1, description="Errors in 24 h that turn it amber.")
    red_at: int = Field(default=10, ge=1, description="Errors in 24 h that turn it red.")


class IntakeLatencySpec(Strict):
    amber_p95_seconds: int = Field(default=300, ge=1, description="p95 of received − occurred.")
    red_p95_seconds: int = Field(default=900, ge=1)
    window_hours: int = Field(default=24, ge=1, le=24 * 7)


class RunSuccessSpec(Strict):
    amber_below: float = Field(default=0.99, gt=0, le=1, description="Success rate over 7 days.")
    red_below: float = Field(default=0.95, gt=0, le=1)
    window_days: int = Field(default=7, ge=1, le=31)


class SloSpec(Strict):
    errors: ErrorsSpec = Field(default_factory=ErrorsSpec)
    intake_latency: IntakeLatencySpec = Field(default_factory=IntakeLatencySpec)
    run_success: RunSuccessSpec = Field(default_factory=RunSuccessSpec)
