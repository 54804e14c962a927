"""The run worker: claim a due run with a lease, call its target once, record what happened.

Each step is its own transaction; no transaction is held open during the HTTP call. The
lease is the fence: a worker that comes back after its lease expired finds `attempts` moved
on and writes nothing, while the worker that took over repeats the call with the same
`Idempotency-Key` (the run_id), so the target applies the run once.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import Connection, Engine, Row

from control_tower.catalog import Catalog
from control_tower.catalog.triggers import Trigger
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.kit.loops import poll_until_stopped
from control_tower.runs import repository
from control_tower.runs.guards import window_open_at
from control_tower.runs.lifecycle import StaleRun, record_transition
from control_tower.runs.metrics import (
    CallOutcome,
    CallResult,
    elapsed_ms,
    metrics_with_call,
    metrics_with_lost_attempt,
    target_report,
)
from control_tower.runs.schemas import RunStatus
from control_tower.runs.target import build_client, build_request, sign_request, target_secret

log = structlog.get_logger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(trigger: Trigger, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random."""
    step: float = min(trigger.retry.max_seconds, trigger.retry.base_seconds * 2.0 ** (attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


StepAction = Literal["attempted", "cancelled", "failed", "deferred", "lost_lease"]


@dataclass(frozen=True)
class Claim:
    run_id: str
    trigger: Trigger
    inputs: dict[str, Any]
    attempt: int
    lease_expires_at: datetime


@dataclass
class StepResult:
    """What one `run_once` did, for tests and logs."""

    run_id: str
    action: StepAction
    status: RunStatus | None = None
    attempt: int | None = None
    call: CallResult | None = None


@dataclass
class RunWorker:
    engine: Engine
    catalog: Catalog
    clock: Clock
    master_key: bytes
    lease_seconds: int = 60
    poll_seconds: float = 1.0
    target_base_url: str | None = None
    worker_id: str = field(default_factory=default_worker_id)
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client = field(default_factory=build_client)

    @property
    def actor(self) -> str:
        return f"worker:{self.worker_id}"

    # -- one step -------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> StepResult | None:
        """Claim one due run and make one attempt; None when nothing is due."""
        claimed = self.claim(now)
        if not isinstance(claimed, Claim):
            return claimed
        call = self.call_target(claimed)
        return self.finish(claimed, call, now)

    def run_until_idle(self, now: datetime | None = None, limit: int = 1000) -> list[StepResult]:
        steps: list[StepResult] = []
        for _ in range(limit):
            step = self.run_once(now)
            if step is None:
                break
            steps.append(step)
        return steps

    def claim(self, now: datetime | None = None) -> Claim | StepResult | None:
        """Take the next due run's lease (a Claim), settle it without a call (a StepResult:
        cancelled, failed, deferred), or None when nothing is due."""
        now = now or self.clock.now()
        with unit_of_work(self.engine) as conn:
            row = repository.claim_candidate(conn, now)
            if row is None:
                return None
            status = RunStatus(row.status)
            trigger = self.catalog.trigger(row.trigger)
            settle = self._settle_without_call(conn, row, status, trigger, now)
            if settle is not None or trigger is None:
                return settle
            attempt = int(row.attempts) + 1
            lease_until = now + timedelta(seconds=trigger.timeout_seconds + self.lease_seconds)
            values: dict[str, Any] = {
                "attempts": attempt,
                "lease_owner": self.worker_id,
                "lease_expires_at": lease_until,
                "updated_at": now,
            }
            if row.lease_owner is not None:
                # The previous worker's lease expired mid-attempt (it crashed or hung).
                values["metrics"] = metrics_with_lost_attempt(
                    row.metrics, row.attempts, row.lease_owner, now
                )
                log.warning(
                    "run_lease_taken_over",
                    run_id=row.run_id,
                    previous_owner=row.lease_owner,
                    attempt=attempt,
                )
            fence = {"attempts": row.attempts, "lease_owner": row.lease_owner}
            if status is RunStatus.queued:
                return self._start(conn, row, attempt, values, fence, trigger, lease_until, now)
            if not repository.update_run(conn, row.run_id, values, {"status": "running", **fence}):
                return None
            return Claim(row.run_id, trigger, row.inputs, attempt, lease_until)

    def _start(
        self,
        conn: Connection,
        row: Row[Any],
        attempt: int,
        values: dict[str, Any],
        fence: dict[str, Any],
        trigger: Trigger,
        lease_until: datetime,
        now: datetime,
    ) -> Claim | None:
        """The first claim: queued → running, with its transition, audit entry and event."""
        try:
            record_transition(
                conn,
                self.catalog,
                run_id=row.run_id,
                trigger=row.trigger,
                from_status=RunStatus.queued,
                to_status=RunStatus.running,
                at=now,
                actor=self.actor,
                reason="claimed by a worker",
                details={"attempt": attempt},
                values=values,
                expect=fence,
            )
        except StaleRun:
            return None  # the fenced update wrote nothing: someone else moved the run first
        return Claim(row.run_id, trigger, row.inputs, attempt, lease_until)

    def _settle_without_call(
        self,
        conn: Connection,
        row: Row[Any],
        status: RunStatus,
        trigger: Trigger | None,
        now: datetime,
    ) -> StepResult | None:
        end: tuple[RunStatus, str] | None = None
        if trigger is None:
            end = (RunStatus.failed, f"trigger {row.trigger!r} is no longer in the catalogue")
        elif row.cancel_requested:
            end = (RunStatus.cancelled, "cancel requested; checked before the attempt")
        elif row.attempts >= trigger.retry.max_attempts:
            end = (RunStatus.failed, "attempts exhausted (the last worker lost its lease)")
        if end is not None:
            to_status, reason = end
            record_transition(
                conn,
                self.catalog,
                run_id=row.run_id,
                trigger=row.trigger,
                from_status=status,
                to_status=to_status,
                at=now,
                actor=self.actor,
                reason=reason,
                values={"next_attempt_at": None},
            )
            action: StepAction = "cancelled" if to_status is RunStatus.cancelled else "failed"
            return StepResult(row.run_id, action, to_status)
        assert trigger is not None
        window = trigger.guards.finance_window
        opens = window_open_at(window, now) if window is not None else None
        if opens is not None:
            # Outside the finance window (e.g. a retry that fell after 19:00): wait for it.
            repository.update_run(
                conn, row.run_id, {"next_attempt_at": opens, "updated_at": now}, {}
            )
            return StepResult(row.run_id, "deferred", status)
        return None

    # -- the call -------------------------------------------------------------------------

    def call_target(self, claim: Claim) -> CallResult:
        """One signed HTTP call; never raises for network or HTTP errors."""
        request = build_request(
            claim.trigger, claim.run_id, claim.inputs, claim.attempt, self.target_base_url
        )
        signed = sign_request(request, target_secret(self.master_key, claim.trigger.target.system))
        started = time.perf_counter()
        try:
            response = self.client.request(
                signed.method,
                signed.url,
                headers=signed.headers,
                content=signed.body,
                timeout=claim.trigger.timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            return CallResult("retry", None, elapsed_ms(started), f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return CallResult(
                "retry", None, elapsed_ms(started), f"transport: {type(exc).__name__}"
            )
        duration = elapsed_ms(started)
        code = response.status_code
        report = target_report(response)
        if 200 <= code < 300:
            return CallResult("success", code, duration, None, report)
        # 408 and 429 are the target asking to come back later; other 4xx will not get better.
        retryable = code >= 500 or code in (408, 429)
        outcome: CallOutcome = "retry" if retryable else "failed"
        return CallResult(outcome, code, duration, f"HTTP {code}", report)

    # -- recording ------------------------------------------------------------------------

    def finish(self, claim: Claim, call: CallResult, now: datetime | None = None) -> StepResult:
        now = now or self.clock.now()
        with unit_of_work(self.engine) as conn:
            row = repository.get_run(conn, claim.run_id, for_update=True)
            if (
                row is None
                or row.status != RunStatus.running.value
                or row.attempts != claim.attempt
                or row.lease_owner != self.worker_id
            ):
                log.warning("run_lease_lost", run_id=claim.run_id, attempt=claim.attempt)
                return StepResult(claim.run_id, "lost_lease", None, claim.attempt, call)
            metrics = metrics_with_call(row.metrics, claim.attempt, call, now)
            fence = {"attempts": claim.attempt, "lease_owner": self.worker_id}
            to_status, reason = self._decide(row, claim, call)
            try:
                if to_status is None:
                    delay = backoff_seconds(claim.trigger, claim.attempt, self.rng)
                    values = {
                        "metrics": metrics,
                        "lease_owner": None,
                        "lease_expires_at": None,
                        "next_attempt_at": now + timedelta(seconds=delay),
                        "updated_at": now,
                    }
                    if not repository.update_run(
                        conn, claim.run_id, values, {"status": "running", **fence}
                    ):
                        raise StaleRun(claim.run_id)
                    status = RunStatus.running
                else:
                    record_transition(
                        conn,
                        self.catalog,
                        run_id=claim.run_id,
                        trigger=claim.trigger.name,
                        from_status=RunStatus.running,
                        to_status=to_status,
                        at=now,
                        actor=self.actor,
                        reason=reason,
                        details={"attempt": claim.attempt, "status_code": call.status_code},
                        values={"metrics": metrics, "next_attempt_at": None},
                        expect=fence,
                    )
                    status = to_status
            except StaleRun:
                return StepResult(claim.run_id, "lost_lease", None, claim.attempt, call)
        log.info(
            "run_attempt",
            run_id=claim.run_id,
            trigger=claim.trigger.name,
            inputs=claim.inputs,
            attempt=claim.attempt,
            outcome=call.outcome,
            status_code=call.status_code,
            run_status=status.value,
        )
        return StepResult(claim.run_id, "attempted", status, claim.attempt, call)

    def _decide(
        self, row: Row[Any], claim: Claim, call: CallResult
    ) -> tuple[RunStatus | None, str]:
        """The run's next status after a call; None means retry later."""
        if call.outcome == "success":
            late = " (a cancel arrived during the call, too late)" if row.cancel_requested else ""
            return RunStatus.success, f"target answered {call.status_code}{late}"
        if call.outcome == "failed":
            return RunStatus.failed, f"target refused: {call.error}; not retried"
        if row.cancel_requested:
            return RunStatus.cancelled, f"cancel requested; call failed ({call.error})"
        if claim.attempt >= claim.trigger.retry.max_attempts:
            return RunStatus.failed, f"gave up after {claim.attempt} attempts: {call.error}"
        return None, ""

    # -- the loop -------------------------------------------------------------------------

    async def loop(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; sleep `poll_seconds` whenever nothing is due."""
        log.info("run_worker_started", worker_id=self.worker_id)
        try:
            await poll_until_stopped(
                self.run_once, stop, poll_seconds=self.poll_seconds,
                failures=ThrottledLog(__name__), failed_event="run_worker_step_failed",
                worker_id=self.worker_id,
            )  # fmt: skip
        finally:
            self.client.close()
        log.info("run_worker_stopped", worker_id=self.worker_id)
