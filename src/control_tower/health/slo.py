"""Evaluate a system's objectives from its rollups: each gives a status and the reason for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from control_tower.catalog.model import System
from control_tower.health.business_hours import business_seconds_between
from control_tower.health.objectives import EXTRA_OBJECTIVES
from control_tower.health.rollups import EVIDENCE_LIMIT, hour_floor
from control_tower.health.schemas import HealthStatus, Reason
from control_tower.models import health_evidence, system_rollups, system_state
from control_tower.models.health import LATENCY_BOUNDS, LATENCY_COLUMNS

_RANK = {HealthStatus.green: 0, HealthStatus.amber: 1, HealthStatus.red: 2}


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The worst known status; unknown only when nothing is known."""
    known = [s for s in statuses if s is not HealthStatus.unknown]
    return max(known, key=_RANK.__getitem__) if known else HealthStatus.unknown


@dataclass(frozen=True)
class Evaluation:
    status: HealthStatus
    reasons: list[Reason]
    last_heartbeat_at: datetime | None
    errors_24h: int


def _window_sums(conn: Connection, system_id: str, since: datetime, columns: list[str]) -> Any:
    query = select(*(func.coalesce(func.sum(system_rollups.c[c]), 0).label(c) for c in columns))
    query = query.where(
        system_rollups.c.system_id == system_id, system_rollups.c.bucket_start >= since
    )
    return conn.execute(query).one()


def _evidence(conn: Connection, system_id: str, kind: str, since: datetime) -> list[str]:
    query = (
        select(health_evidence.c.event_id)
        .where(
            health_evidence.c.system_id == system_id,
            health_evidence.c.kind == kind,
            health_evidence.c.occurred_at >= since,
        )
        .order_by(health_evidence.c.occurred_at.desc())
        .limit(EVIDENCE_LIMIT)
    )
    return [r.event_id for r in conn.execute(query)]


def _by_threshold(
    value: float, amber: float, red: float, higher_is_worse: bool = True
) -> HealthStatus:
    if higher_is_worse:
        if value >= red:
            return HealthStatus.red
        return HealthStatus.amber if value >= amber else HealthStatus.green
    if value < red:
        return HealthStatus.red
    return HealthStatus.amber if value < amber else HealthStatus.green


def heartbeat_reason(system: System, state: Any, now: datetime) -> Reason | None:
    spec = system.heartbeat
    if spec is None:
        return None
    hours = system.business_hours
    window = "business hours" if not hours.always else "24/7"
    threshold = f"amber > {spec.amber_after_minutes} min, red > {spec.red_after_minutes} min"
    last = state.last_heartbeat_at if state is not None else None
    if last is None:
        return Reason(
            objective="heartbeat_gap", status=HealthStatus.unknown, measured=None,
            threshold=threshold, window=window, message="no heartbeat received yet",
        )  # fmt: skip
    gap_minutes = business_seconds_between(hours, last, now) / 60
    status = HealthStatus.green
    if gap_minutes > spec.red_after_minutes:
        status = HealthStatus.red
    elif gap_minutes > spec.amber_after_minutes:
        status = HealthStatus.amber
    elapsed = (now - last).total_seconds() / 60
    return Reason(
        objective="heartbeat_gap",
        status=status,
        measured={"gap_minutes": round(gap_minutes, 1), "since_last_minutes": round(elapsed, 1)},
        threshold=threshold,
        window=window,
        evidence=[state.last_heartbeat_event_id] if state.last_heartbeat_event_id else [],
        message=f"{gap_minutes:.0f} business minutes since the last heartbeat at "
        f"{last.isoformat()}",
    )


def errors_reason(conn: Connection, system: System, now: datetime) -> tuple[Reason, int]:
    spec = system.slo.errors
    since = hour_floor(now) - timedelta(hours=23)
    sums = _window_sums(conn, system.id, since, ["errors", "high_errors"])
    errors = int(sums.errors)
    status = _by_threshold(errors, spec.amber_at, spec.red_at)
    reason = Reason(
        objective="errors_24h",
        status=status,
        measured={"errors": errors, "high_or_critical": int(sums.high_errors)},
        threshold=f"amber ≥ {spec.amber_at}, red ≥ {spec.red_at}",
        window="24 h (hourly buckets)",
        evidence=_evidence(conn, system.id, "error", since) if errors else [],
        message=f"{errors} errors in the last 24 h",
    )
    return reason, errors


def latency_reason(conn: Connection, system: System, now: datetime) -> Reason:
    spec = system.slo.intake_latency
    since = hour_floor(now) - timedelta(hours=spec.window_hours - 1)
    sums = _window_sums(conn, system.id, since, LATENCY_COLUMNS)
    counts = [int(getattr(sums, c)) for c in LATENCY_COLUMNS]
    total = sum(counts)
    threshold = f"p95 amber > {spec.amber_p95_seconds} s, red > {spec.red_p95_seconds} s"
    window = f"{spec.window_hours} h"
    if total == 0:
        return Reason(
            objective="intake_latency_p95", status=HealthStatus.unknown, measured=None,
            threshold=threshold, window=window, message="no events in the window",
        )  # fmt: skip
    rank = 0.95 * total
    running = 0
    p95_bound: float = float("inf")
    for bound, count in zip((*LATENCY_BOUNDS, float("inf")), counts, strict=True):
        running += count
        if running >= rank:
            p95_bound = bound
            break
    # The p95 is known to lie at or below the bound of its histogram bucket.
    status = HealthStatus.green
    if p95_bound > spec.red_p95_seconds:
        status = HealthStatus.red
    elif p95_bound > spec.amber_p95_seconds:
        status = HealthStatus.amber
    shown = "more than 3600" if p95_bound == float("inf") else f"≤ {int(p95_bound)}"
    return Reason(
        objective="intake_latency_p95",
        status=status,
        measured={"p95_seconds_at_most": None if p95_bound == float("inf") else p95_bound,
                  "events": total},
        threshold=threshold,
        window=window,
        evidence=_evidence(conn, system.id, "slow", since) if status is not HealthStatus.green
        else [],
        message=f"p95 intake latency {shown} s over {total} events",
    )  # fmt: skip


def run_success_reason(conn: Connection, system: System, now: datetime) -> Reason:
    spec = system.slo.run_success
    since = hour_floor(now) - timedelta(days=spec.window_days) + timedelta(hours=1)
    sums = _window_sums(conn, system.id, since, ["runs_ok", "runs_failed"])
    ok, failed = int(sums.runs_ok), int(sums.runs_failed)
    threshold = f"amber < {spec.amber_below:.0%}, red < {spec.red_below:.0%}"
    window = f"{spec.window_days} days"
    if ok + failed == 0:
        return Reason(
            objective="run_success_rate", status=HealthStatus.unknown, measured=None,
            threshold=threshold, window=window, message="no runs in the window",
        )  # fmt: skip
    rate = ok / (ok + failed)
    status = _by_threshold(rate, spec.amber_below, spec.red_below, higher_is_worse=False)
    return Reason(
        objective="run_success_rate",
        status=status,
        measured={"rate": round(rate, 4), "succeeded": ok, "failed": failed},
        threshold=threshold,
        window=window,
        evidence=_evidence(conn, system.id, "run_failed", since) if failed else [],
        message=f"{rate:.1%} of {ok + failed} runs succeeded",
    )


def evaluate(conn: Connection, system: System, now: datetime) -> Evaluation:
    state = conn.execute(select(system_state).where(system_state.c.system_id == system.id)).first()
    extra = EXTRA_OBJECTIVES.reasons(conn, system, now)
    if state is None:
        reason = Reason(
            objective="signal", status=HealthStatus.unknown, measured=None, threshold=None,
            window="ever", message="no event, heartbeat or poll has been seen for this system",
        )  # fmt: skip
        # Without a signal the system stays unknown, unless another objective finds a problem.
        problems = [r for r in extra if r.status in (HealthStatus.amber, HealthStatus.red)]
        return Evaluation(worst([r.status for r in problems]), [*problems, reason], None, 0)
    errors, errors_24h = errors_reason(conn, system, now)
    reasons = [
        r
        for r in (
            heartbeat_reason(system, state, now),
            errors,
            latency_reason(conn, system, now),
            run_success_reason(conn, system, now),
            *extra,
        )
        if r is not None
    ]
    order = {HealthStatus.red: 0, HealthStatus.amber: 1, HealthStatus.green: 2,
             HealthStatus.unknown: 3}  # fmt: skip
    reasons.sort(key=lambda r: order[r.status])
    status = worst([r.status for r in reasons])
    return Evaluation(status, reasons, state.last_heartbeat_at, errors_24h)
