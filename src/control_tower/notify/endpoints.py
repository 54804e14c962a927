"""HTTP door onto the notification outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from control_tower.auth.dependencies import Context, RequireMaintainer
from control_tower.db import unit_of_work
from control_tower.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_tower.kit.query import UtcInstant
from control_tower.models.notify import NotificationStatus
from control_tower.notify import service
from control_tower.notify.repository import NotificationFilter
from control_tower.notify.schemas import NotificationPage

api = APIRouter(tags=["notifications"])


@api.get(
    "/notifications",
    response_model=NotificationPage,
    summary="Notifications in the delivery outbox, newest first, with every attempt",
)
def list_notifications(
    _principal: RequireMaintainer,
    ctx: Context,
    status: Annotated[NotificationStatus | None, Query()] = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[UtcInstant | None, Query(description="queued at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> NotificationPage:
    flt = NotificationFilter(status=status, channel=channel, since=since)
    with unit_of_work(ctx.engine, write=False) as conn:
        return service.list_notifications(conn, flt, limit, cursor)
