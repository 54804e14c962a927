"""The reports as data: the JSON bodies of the digest and the weekly trend (schemas in
docs/control_tower/schemas/). Every list is sorted and nothing says when it was made, so a
period always gives the same bytes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from control_tower.health.schemas import HealthStatus
from control_tower.kit.common import Money

ReportKind = Literal["daily", "weekly"]


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_Report):
    start_at: datetime = Field(description="Start, inclusive (UTC).")
    end_at: datetime = Field(description="End, exclusive (UTC).")
    zone: str = Field(description="The zone whose calendar the period follows.")
    start_local: str = Field(description="Start in the zone (ISO-8601 with its offset).")
    end_local: str
    hours: float = Field(description="Its real length: 23 or 25 on the days clocks change.")


class Count(_Report):
    key: str
    count: int


class TypeSourceCount(_Report):
    type: str
    source: str
    count: int


class EventsSection(_Report):
    total: int
    by_type: list[Count]
    by_source: list[Count]
    by_type_and_source: list[TypeSourceCount]
    link: str


class FailedRun(_Report):
    run_id: str
    trigger: str
    ended_at: datetime
    reason: str
    link: str


class FnErrorCount(_Report):
    fn_name: str
    severity: str
    count: int


class FnErrors(_Report):
    total: int
    by_severity: list[Count]
    by_function: list[FnErrorCount]
    link: str


class CiFailure(_Report):
    at: datetime
    run_id: str
    job: str
    url: str


class CiRepo(_Report):
    repo: str
    count: int
    latest: list[CiFailure] = Field(description="The latest failures, newest first (at most 10).")


class Failures(_Report):
    failed_runs: list[FailedRun]
    fn_errors: FnErrors
    ci: list[CiRepo]


class PaymentTransition(_Report):
    status_before: str
    status_after: str
    count: int


class InvoiceTotal(_Report):
    currency: str
    invoices: int
    total: Money = Field(description="The sum of the invoices' totals, in minor units.")


class Payments(_Report):
    transitions: list[PaymentTransition]
    invoices: list[InvoiceTotal]


class StatusChangeItem(_Report):
    at: datetime
    from_status: HealthStatus
    to_status: HealthStatus


class SystemDay(_Report):
    system_id: str
    name: str
    status_at_start: HealthStatus
    status_at_end: HealthStatus
    changes: list[StatusChangeItem]
    link: str


class SloBreach(_Report):
    system_id: str
    objective: str
    worst_status: HealthStatus
    first_at: datetime = Field(description="When it was first seen in breach this period.")
    message: str


class DeadLetters(_Report):
    depth_at_end: int = Field(description="Dead events at the end of the day (as now known).")
    died_during: int = Field(description="Events that went to the DLQ during the day.")
    link: str


class AlertActivity(_Report):
    fired: int
    acknowledged: int
    resolved: int


class AuditHead(_Report):
    seq: int = Field(description="The last audit row written before the end of the day.")
    hash: str


class DailyDigest(_Report):
    kind: Literal["daily_digest"] = "daily_digest"
    organisation: str
    report_date: date
    period: Period
    events: EventsSection
    failures: Failures
    payments: Payments
    systems: list[SystemDay]
    slo_breaches: list[SloBreach]
    dlq: DeadLetters
    alerts: AlertActivity
    audit_head: AuditHead | None = Field(description="None while the audit log is empty.")


class StatusShares(_Report):
    """Shares of the period's business time, 0 … 1 (4 decimals); None without business time."""

    green: float | None
    amber: float | None
    red: float | None
    unknown: float | None


class ObjectiveCompliance(_Report):
    objective: str
    compliance: float | None = Field(
        description="Share of the business time its status was known in which it was green."
    )
    previous: float | None
    change: float | None


class SystemWeek(_Report):
    system_id: str
    name: str
    business_hours: float
    shares: StatusShares
    previous_shares: StatusShares
    green_change: float | None = Field(description="Green share minus the week before's.")
    objectives: list[ObjectiveCompliance]
    errors: int
    previous_errors: int
    failed_runs: int
    previous_failed_runs: int
    link: str


class Refused(_Report):
    producer: str
    source: str
    reason: str
    event_type: str
    count: int


class TaxonomyDrift(_Report):
    refused_total: int
    previous_refused_total: int
    refused: list[Refused]
    unseen_types: list[str] = Field(description="Declared in the catalogue, not seen this week.")


class WeeklyTrend(_Report):
    kind: Literal["weekly_trend"] = "weekly_trend"
    organisation: str
    week: str
    previous_week: str
    period: Period
    systems: list[SystemWeek]
    taxonomy: TaxonomyDrift
