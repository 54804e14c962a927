"""The dead-letter queue: events the router gave up on, and replaying them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Row, func, select, update

from control_tower.audit import chain
from control_tower.kit.common import UtcDatetime
from control_tower.kit.errors import Conflict, NotFound
from control_tower.kit.pagination import seq_page
from control_tower.models import event_routes, events


class DeadEvent(BaseModel):
    model_config = ConfigDict(title="DeadEvent")

    event_id: str
    type: str
    source: str
    occurred_at: UtcDatetime
    attempts: int
    last_error: str | None
    dead_at: UtcDatetime


class DlqPage(BaseModel):
    model_config = ConfigDict(title="DlqPage")

    items: list[DeadEvent]
    next_cursor: str | None
    depth: int


class ReplayResult(BaseModel):
    model_config = ConfigDict(title="ReplayResult")

    replayed: list[str]


def count_routes(conn: Connection, *statuses: str) -> dict[str, int]:
    """Routing jobs per status, in one query: `dead` is the DLQ depth, `retrying` the retry
    backlog, `pending` the events not yet routed. A status with no jobs counts 0."""
    query = (
        select(event_routes.c.status, func.count())
        .where(event_routes.c.status.in_(statuses))
        .group_by(event_routes.c.status)
    )
    counts = dict.fromkeys(statuses, 0)
    counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
    return counts


def depth(conn: Connection) -> int:
    return count_routes(conn, "dead")["dead"]


def list_dead(
    conn: Connection, limit: int, cursor: str | None, since: datetime | None = None
) -> DlqPage:
    query = (
        select(
            events.c.event_id, events.c.type, events.c.source, events.c.occurred_at,
            event_routes.c.attempts, event_routes.c.last_error, event_routes.c.updated_at,
            event_routes.c.seq,
        )
        .join(events, events.c.event_id == event_routes.c.event_id)
        .where(event_routes.c.status == "dead")
    )  # fmt: skip
    if since is not None:
        query = query.where(event_routes.c.updated_at >= since)

    def fetch(n: int, before: int | None) -> list[Row[Any]]:
        older = query if before is None else query.where(event_routes.c.seq < before)
        return list(conn.execute(older.order_by(event_routes.c.seq.desc()).limit(n)))

    page, next_cursor = seq_page(fetch, limit, cursor)
    return DlqPage(
        items=[
            DeadEvent(
                event_id=r.event_id, type=r.type, source=r.source, occurred_at=r.occurred_at,
                attempts=r.attempts, last_error=r.last_error, dead_at=r.updated_at,
            )
            for r in page
        ],
        next_cursor=next_cursor,
        depth=depth(conn),
    )  # fmt: skip


def replay(conn: Connection, event_ids: list[str], *, actor: str, now: datetime) -> ReplayResult:
    """Put dead events back in the queue with a fresh attempt count; audited."""
    replayed = []
    for event_id in event_ids:
        result = conn.execute(
            update(event_routes)
            .where(event_routes.c.event_id == event_id, event_routes.c.status == "dead")
            .values(status="pending", attempts=0, available_at=now, updated_at=now,
                    lease_owner=None, lease_expires_at=None)
        )  # fmt: skip
        if result.rowcount != 1:
            exists = conn.execute(
                select(event_routes.c.status).where(event_routes.c.event_id == event_id)
            ).first()
            if exists is None:
                raise NotFound(f"no event {event_id!r}")
            raise Conflict(f"event {event_id!r} is {exists.status}, not dead", code="not_dead")
        chain.append(conn, at=now, actor=actor, action="dlq.replayed", target=f"event:{event_id}")
        replayed.append(event_id)
    return ReplayResult(replayed=replayed)


def dead_ids(conn: Connection, since: datetime | None) -> list[str]:
    query = select(event_routes.c.event_id).where(event_routes.c.status == "dead")
    if since is not None:
        query = query.where(event_routes.c.updated_at >= since)
    return [r.event_id for r in conn.execute(query.order_by(event_routes.c.seq))]
