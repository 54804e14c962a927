"""The delivery worker: claim a due notification with a lease, send it, record the attempt.

Built like the run worker (runs/worker.py): claiming and recording are transactions of their
own and none is open while a channel is called. The lease is the fence: a row is claimed by
one worker at a time (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer), and a worker
whose lease ran out before it recorded its attempt finds `attempts` or `lease_owner` moved on
and changes nothing but the attempt history. So several replicas send each notification once,
unless an attempt failed or a worker died mid-send.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import Connection, Engine, Row

from control_tower.catalog import Catalog
from control_tower.catalog.channels import Channel as ChannelSpec
from control_tower.catalog.channels import DeliveryRetry
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.http_client import build_http_client
from control_tower.kit.log_throttle import ThrottledLog
from control_tower.kit.loops import poll_until_stopped
from control_tower.models.notify import NotificationStatus
from control_tower.notify import repository
from control_tower.notify.channels import Attempt, Delivery, SecretError, build_channel
from control_tower.notify.service import Message, find_channel

log = structlog.get_logger(__name__)

# A Retry-After longer than this is read as this: a channel cannot park a message for days.
MAX_RETRY_AFTER_SECONDS = 3600.0
# An attempt's lease: every network step of a channel may take its timeout (connect, TLS,
# login, send), plus this margin.
LEASE_TIMEOUTS = 4

StepAction = Literal["sent", "retrying", "dead", "lost_lease"]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(retry: DeliveryRetry, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random."""
    step: float = min(retry.max_seconds, retry.base_seconds * 2.0 ** (attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


def build_client() -> httpx.Client:
    """No proxies from the environment (a call carries a secret: a webhook URL, a routing key)
    and no redirects; each call passes its channel's timeout."""
    return build_http_client(30.0, trust_env=False)


@dataclass(frozen=True)
class Claim:
    channel: ChannelSpec
    message: Message
    delivery: Delivery


@dataclass(frozen=True)
class StepResult:
    """What one `deliver_once` did, for tests and logs."""

    notification_id: int
    action: StepAction
    status: NotificationStatus | None
    attempt: Attempt | None = None


@dataclass
class DeliveryWorker:
    engine: Engine
    catalog: Catalog
    clock: Clock
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    worker_id: str = field(default_factory=default_worker_id)
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client = field(default_factory=build_client)

    # -- one step -------------------------------------------------------------------------

    def deliver_once(self, now: datetime | None = None) -> StepResult | None:
        """Claim one due notification and make one attempt; None when nothing is due."""
        claimed = self.claim(now)
        if not isinstance(claimed, Claim):
            return claimed
        return self.finish(claimed, self.send(claimed), now)

    def deliver_until_idle(
        self, now: datetime | None = None, limit: int = 1000
    ) -> list[StepResult]:
        steps: list[StepResult] = []
        for _ in range(limit):
            step = self.deliver_once(now)
            if step is None:
                break
            steps.append(step)
        return steps

    def claim(self, now: datetime | None = None) -> Claim | StepResult | None:
        """Take the next due notification's lease (a Claim), settle it without an attempt (a
        StepResult: its channel left the catalogue, or a lost lease used the last attempt),
        or None when nothing is due."""
        now = now or self.clock.now()
        with unit_of_work(self.engine) as conn:
            row = repository.claim_candidate(conn, now)
            if row is None:
                return None
            channel = find_channel(self.catalog, row.channel)
            fence = {"attempts": row.attempts, "lease_owner": row.lease_owner}
            if row.lease_owner is not None:
                self._record_lost_attempt(conn, row, now)
            end = None
            if channel is None:
                end = f"channel {row.channel!r} is no longer in the catalogue"
            elif row.attempts >= channel.retry.max_attempts:
                end = f"gave up after {row.attempts} attempts (the last worker lost its lease)"
            if end is not None:
                values = _settled("dead", now, last_error=end)
                if not repository.update_notification(conn, row.id, values, fence):
                    return None
                return StepResult(row.id, "dead", "dead")
            assert channel is not None
            attempt = row.attempts + 1
            lease = channel.timeout_seconds * LEASE_TIMEOUTS + self.lease_seconds
            values = {
                "attempts": attempt,
                "lease_owner": self.worker_id,
                "lease_expires_at": now + timedelta(seconds=lease),
                "updated_at": now,
            }
            if not repository.update_notification(conn, row.id, values, fence):
                return None
            delivery = Delivery(row.id, row.idempotency_key, now, attempt)
            return Claim(channel, Message.from_json(row.message), delivery)

    def _record_lost_attempt(self, conn: Connection, row: Row[Any], now: datetime) -> None:
        """The previous worker's lease expired mid-attempt (it crashed or hung): whether that
        attempt reached the channel is unknown, and the history says so."""
        log.warning(
            "notification_lease_taken_over",
            notification_id=row.id,
            previous_owner=row.lease_owner,
            attempt=row.attempts,
        )
        repository.insert_attempt(
            conn,
            {
                "notification_id": row.id,
                "attempt": row.attempts,
                "channel": row.channel,
                "at": row.lease_expires_at or now,
                "outcome": "lost",
                "status_code": None,
                "detail": "the worker's lease expired before it recorded the attempt",
                "duration_ms": 0,
                "worker": row.lease_owner,
            },
        )

    # -- the attempt ----------------------------------------------------------------------

    def send(self, claim: Claim) -> Attempt:
        """One attempt on the channel; never raises."""
        try:
            sender = build_channel(claim.channel, self.client, self.env)
            return sender.send(claim.message, claim.delivery)
        except SecretError as exc:
            # Reported at delivery, retried: the fix (set the variable, restart) can still
            # come in time for this message.
            return Attempt("retry", None, str(exc))
        except Exception as exc:  # a sender's bug must not stop the worker
            log.exception("notification_send_crashed", channel=claim.channel.name)
            return Attempt("retry", None, f"internal error: {type(exc).__name__}")

    # -- recording ------------------------------------------------------------------------

    def finish(self, claim: Claim, attempt: Attempt, now: datetime | None = None) -> StepResult:
        now = now or self.clock.now()
        delivery = claim.delivery
        status, values = self._decide(claim, attempt, now)
        fence = {"attempts": delivery.attempt, "lease_owner": self.worker_id}
        with unit_of_work(self.engine) as conn:
            # The attempt happened whatever the fence says: the history records it.
            repository.insert_attempt(
                conn,
                {
                    "notification_id": delivery.notification_id,
                    "attempt": delivery.attempt,
                    "channel": claim.channel.name,
                    "at": delivery.at,
                    "outcome": attempt.outcome,
                    "status_code": attempt.status_code,
                    "detail": attempt.detail,
                    "duration_ms": attempt.duration_ms,
                    "worker": self.worker_id,
                },
            )
            if not repository.update_notification(conn, delivery.notification_id, values, fence):
                log.warning(
                    "notification_lease_lost",
                    notification_id=delivery.notification_id,
                    attempt=delivery.attempt,
                )
                return StepResult(delivery.notification_id, "lost_lease", None, attempt)
        log.info(
            "notification_attempt",
            notification_id=delivery.notification_id,
            channel=claim.channel.name,
            kind=claim.message.kind,
            attempt=delivery.attempt,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            status=status,
        )
        action: StepAction = (
            "sent" if status == "sent" else "dead" if status == "dead" else "retrying"
        )
        return StepResult(delivery.notification_id, action, status, attempt)

    def _decide(
        self, claim: Claim, attempt: Attempt, now: datetime
    ) -> tuple[NotificationStatus, dict[str, Any]]:
        """The notification's next status after an attempt, and the values that say so."""
        if attempt.outcome == "success":
            return "sent", _settled("sent", now, sent_at=now)
        error = attempt.detail or "failed"
        if attempt.outcome == "failed":
            return "dead", _settled("dead", now, last_error=f"refused: {error}")
        tried = claim.delivery.attempt
        if tried >= claim.channel.retry.max_attempts:
            gave_up = f"gave up after {tried} attempts: {error}"
            return "dead", _settled("dead", now, last_error=gave_up)
        delay = backoff_seconds(claim.channel.retry, tried, self.rng)
        if attempt.retry_after_seconds is not None:
            delay = max(delay, min(attempt.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
        values = _settled("failed", now, last_error=error)
        values["next_attempt_at"] = now + timedelta(seconds=delay)
        return "failed", values

    # -- the loop -------------------------------------------------------------------------

    async def loop(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; sleep `poll_seconds` whenever nothing is due."""
        log.info("delivery_worker_started", worker_id=self.worker_id)
        try:
            await poll_until_stopped(
                self.deliver_once, stop, poll_seconds=self.poll_seconds,
                failures=ThrottledLog(__name__), failed_event="delivery_worker_step_failed",
                worker_id=self.worker_id,
            )  # fmt: skip
        finally:
            self.client.close()
        log.info("delivery_worker_stopped", worker_id=self.worker_id)


def _settled(
    status: NotificationStatus,
    now: datetime,
    *,
    last_error: str | None = None,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """Values that end an attempt: the lease is released, and nothing is due unless a retry
    sets next_attempt_at."""
    return {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "next_attempt_at": None,
        "last_error": last_error,
        "sent_at": sent_at,
        "updated_at": now,
    }
