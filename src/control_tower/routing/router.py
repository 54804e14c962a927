"""The router: the outbox dispatcher. It claims due routing jobs with a lease and applies
each event to the registered handlers exactly once.

Several routers may run (`ct serve`, and `ct worker` processes on PostgreSQL). A claim is a
lease, written in its own short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
routers never claim the same rows): a router that dies mid-batch leaves rows whose lease
expires, and another router takes them. A batch's effects and its "routed" marks commit
together, and only while the lease is still ours, so an event is never applied twice. A failing
event is retried alone, with exponential backoff and jitter, and after `max_attempts` it is
`dead` (the DLQ) with its last error. The same path on both stores.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    or_,
    select,
    update,
)

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.store_errors import STORE_DOWN
from control_tower.models import event_routes, events
from control_tower.models.routing import RouteStatus
from control_tower.routing.handlers import Effect, HandlerRegistry

log = structlog.get_logger(__name__)

# What handlers see of an event.
ROUTED_COLUMNS = ("seq", "event_id", "type", "source", "occurred_at", "received_at",
                  "correlation_id", "payload")  # fmt: skip
# Claim order: due retries first (few, and never starved by a backlog of new events).
CLAIMABLE = ("retrying", "pending")


@dataclass
class RouterConfig:
    batch_size: int = 500
    lease_seconds: float = 30.0
    max_attempts: int = 5
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 300.0


@dataclass
class RouteReport:
    routed: int = 0
    retrying: int = 0
    dead: int = 0
    lost_lease: int = 0

    @property
    def handled(self) -> int:
        """Events this report accounts for, whatever became of them."""
        return self.routed + self.retrying + self.dead + self.lost_lease

    def add(self, other: RouteReport) -> None:
        self.routed += other.routed
        self.retrying += other.retrying
        self.dead += other.dead
        self.lost_lease += other.lost_lease


def backoff_seconds(attempt: int, config: RouterConfig, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [50%, 100%] of the capped delay."""
    delay = min(config.backoff_base_seconds * 2.0 ** (attempt - 1), config.backoff_max_seconds)
    return delay * (0.5 + rng.random() / 2)


class Router:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        clock: Clock,
        config: RouterConfig | None = None,
        handlers: HandlerRegistry | None = None,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.clock = clock
        self.config = config or RouterConfig()
        self.handlers = handlers if handlers is not None else HandlerRegistry()
        self.name = name or f"router-{uuid.uuid4().hex[:8]}"
        self._rng = random.Random()
        # Each claim leases its rows under a token of its own (the router's name and a random
        # suffix, in lease_owner), so the batch is named by one value instead of a list of ids
        # in every statement, and a restarted router with the same name never mistakes an old
        # lease for its current one.
        self._lease: str | None = None
        self._claimed = 0

    def claim(self, now: datetime) -> list[str]:
        """Lease up to one batch of due rows; returns their event ids in ingest order.

        Retries that are due first (few, and never starved by a backlog of new events), then
        new events: each status is read in ingest order from its index, so a claim costs one
        batch however long the backlog is.
        """
        token = f"{self.name[:48]}#{uuid.uuid4().hex[:12]}"
        leased: list[Any] = []
        with unit_of_work(self.engine, write=True) as conn:
            for status in CLAIMABLE:
                room = self.config.batch_size - len(leased)
                if room <= 0:
                    break
                leased += conn.execute(
                    update(event_routes)
                    .where(
                        event_routes.c.event_id.in_(self.due(status, now, room).scalar_subquery())
                    )
                    .values(
                        lease_owner=token,
                        lease_expires_at=now + timedelta(seconds=self.config.lease_seconds),
                        updated_at=now,
                    )
                    .returning(event_routes.c.event_id, event_routes.c.seq)
                ).all()
        self._lease, self._claimed = token, len(leased)
        return [row.event_id for row in sorted(leased, key=lambda row: row.seq)]

    def due(self, status: str, now: datetime, limit: int) -> Select[Any]:
        """The oldest `limit` rows of `status` that are due and not leased (a test EXPLAINs it)."""
        return (
            select(event_routes.c.event_id)
            .where(
                event_routes.c.status == status,
                event_routes.c.available_at <= now,
                or_(
                    event_routes.c.lease_expires_at.is_(None),
                    event_routes.c.lease_expires_at < now,
                ),
            )
            .order_by(event_routes.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    def _leased(self, ids: Sequence[str]) -> ColumnElement[bool]:
        """The rows of `ids` still leased by this router's current claim."""
        owned = event_routes.c.lease_owner == self._lease
        if len(ids) == self._claimed:  # the whole claim: the token alone names it
            return owned
        return and_(owned, event_routes.c.event_id.in_(ids))

    def route_once(self) -> RouteReport:
        """Claim one batch and apply it; the unit a loop or a test drives."""
        now = self.clock.now()
        report = RouteReport()
        ids = self.claim(now)
        if not ids:
            return report
        try:
            self._apply_batch(ids, now, report)
        except _LeaseLost:
            report.lost_lease += len(ids)
        except STORE_DOWN:
            # The store, not an event, failed: no attempt is counted (an outage must not send
            # events to the DLQ); the lease expires and the batch is routed once it is back.
            raise
        except Exception:
            # One event spoils the batch: apply each alone so only the bad one is retried.
            for event_id in ids:
                try:
                    self._apply_batch([event_id], now, report)
                except _LeaseLost:
                    report.lost_lease += 1
                except STORE_DOWN:
                    raise
                except Exception as exc:
                    self._fail(event_id, now, exc, report)
        return report

    def leased_events(self, ids: Sequence[str]) -> Select[Any]:
        """The events of `ids` this router still holds, in ingest order (a test EXPLAINs it)."""
        return (
            select(*(events.c[name] for name in ROUTED_COLUMNS))
            .join(event_routes, event_routes.c.event_id == events.c.event_id)
            .where(self._leased(ids))
            .order_by(events.c.seq)
        )

    def _apply_batch(self, ids: Sequence[str], now: datetime, report: RouteReport) -> None:
        # Read and compute before the write transaction: on SQLite its lock is the one ingest
        # waits for. The events cannot change meanwhile; the marking below checks the lease.
        with unit_of_work(self.engine, write=False) as conn:
            rows = list(conn.execute(self.leased_events(ids)).mappings())
        if len(rows) != len(ids):
            raise _LeaseLost()
        effects = self._effects(rows)
        with unit_of_work(self.engine, write=True) as conn:
            for effect in effects:
                effect(conn)
            marked = self._mark(
                conn, self._leased(ids), now, status="routed", values={"last_error": None}
            )
            if marked != len(ids):
                raise _LeaseLost()
            report.routed += len(ids)

    def _effects(self, rows: Sequence[Any]) -> list[Effect]:
        return [handler(self.catalog, rows) for handler in self.handlers]

    def _mark(
        self,
        conn: Connection,
        ours: ColumnElement[bool],
        now: datetime,
        *,
        status: RouteStatus,
        values: dict[str, Any],
    ) -> int:
        result = conn.execute(
            update(event_routes)
            .where(ours)
            .values(status=status, lease_owner=None, lease_expires_at=None, updated_at=now,
                    **values)
        )  # fmt: skip
        return int(result.rowcount or 0)

    def _fail(
        self,
        event_id: str,
        now: datetime,
        exc: Exception,
        report: RouteReport,
    ) -> None:
        """Count a failed attempt of this router's leased `event_id`."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        ours = self._leased([event_id])
        with unit_of_work(self.engine, write=True) as conn:
            row = conn.execute(
                select(event_routes.c.attempts).where(ours).with_for_update()
            ).first()
            if row is None:  # another router took it meanwhile
                report.lost_lease += 1
                return
            attempts = row.attempts + 1
            dead = attempts >= self.config.max_attempts
            status: RouteStatus = "dead" if dead else "retrying"
            delay = 0.0 if dead else backoff_seconds(attempts, self.config, self._rng)
            marked = self._mark(
                conn, ours, now, status=status,
                values={"attempts": attempts, "last_error": error,
                        "available_at": now + timedelta(seconds=delay)},
            )  # fmt: skip
            if not marked:
                report.lost_lease += 1
                return
        if dead:
            report.dead += 1
        else:
            report.retrying += 1
        log.warning("event_routing_failed", event_id=event_id, attempt=attempts, status=status,
                    error=type(exc).__name__, exc_info=exc)  # fmt: skip

    def drain(self, max_batches: int = 1000) -> RouteReport:
        """Route until nothing is due (tests and `ct rebuild` use it)."""
        total = RouteReport()
        for _ in range(max_batches):
            report = self.route_once()
            if not report.handled:
                break
            total.add(report)
        return total


class _LeaseLost(Exception):
    """Another router took these rows after our lease expired; our work is rolled back."""
