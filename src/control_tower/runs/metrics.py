"""What a run records about its attempts: durations, outcomes and the target's report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx

from control_tower.events.redaction import redact

MAX_REPORT_BYTES = 16 * 1024


CallOutcome = Literal["success", "retry", "failed"]


@dataclass
class CallResult:
    outcome: CallOutcome
    status_code: int | None
    duration_ms: float
    error: str | None = None
    report: dict[str, Any] | None = None


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def target_report(response: httpx.Response) -> dict[str, Any] | None:
    """The target's JSON answer (redacted), if it sent a small JSON object."""
    if len(response.content) > MAX_REPORT_BYTES:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    cleaned, _masked = redact(body)
    return cleaned


def metrics_with_lost_attempt(
    metrics: dict[str, Any], attempt: int, owner: str, now: datetime
) -> dict[str, Any]:
    out = dict(metrics)
    out["attempt_log"] = [
        *metrics.get("attempt_log", []),
        {
            "attempt": attempt,
            "at": now.isoformat(),
            "outcome": "lost",
            "status_code": None,
            "duration_ms": None,
            "error": f"worker {owner} lost its lease mid-attempt",
        },
    ]
    return out


def metrics_with_call(
    metrics: dict[str, Any], attempt: int, call: CallResult, now: datetime
) -> dict[str, Any]:
    log_ = [*metrics.get("attempt_log", [])]
    log_.append(
        {
            "attempt": attempt,
            "at": now.isoformat(),
            "outcome": call.outcome,
            "status_code": call.status_code,
            "duration_ms": call.duration_ms,
            "error": call.error,
        }
    )
    out = dict(metrics)
    out["attempts"] = attempt
    out["attempt_log"] = log_
    out["durations_ms"] = [a["duration_ms"] for a in log_ if a["duration_ms"] is not None]
    out["total_duration_ms"] = round(sum(out["durations_ms"]), 3)
    if call.report is not None:
        out["target_report"] = call.report
    return out
