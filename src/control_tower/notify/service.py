"""Notifications: the message features send, queuing it on a channel, and reading the outbox.

`enqueue` writes in the caller's transaction, so an alert and its notification commit together
or not at all; the delivery worker sends it later, in transactions of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.catalog.channels import Channel
from control_tower.kit.errors import NotFound
from control_tower.kit.pagination import seq_page
from control_tower.notify import repository
from control_tower.notify.repository import NotificationFilter
from control_tower.notify.schemas import DeliveryAttempt, Notification, NotificationPage

MessageKind = Literal["alert", "digest", "weekly", "test"]
Severity = Literal["critical", "error", "warning", "info"]
PagerAction = Literal["trigger", "acknowledge", "resolve"]


@dataclass(frozen=True)
class Link:
    href: str
    text: str


@dataclass(frozen=True)
class Message:
    """One notification, rendered once by its feature and sent as-is to each channel.

    `text` is Markdown that reads well in Slack (mrkdwn) and as plain text; `html`, when given,
    is the email's HTML part. Pagers use `dedup_key` and `action` (one incident per dedup key:
    trigger, then acknowledge or resolve it); `component`, `group` and `event_class` fill
    PagerDuty's payload fields of the same names. `details` travel as structured data (the
    webhook body, PagerDuty's custom_details).
    """

    kind: MessageKind
    title: str
    text: str
    severity: Severity = "info"
    html: str | None = None
    dedup_key: str | None = None
    action: PagerAction = "trigger"
    links: tuple[Link, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    component: str | None = None
    group: str | None = None
    event_class: str | None = None
    at: datetime | None = None  # when it happened; enqueue's `now` when not given

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "severity": self.severity,
            "html": self.html,
            "dedup_key": self.dedup_key,
            "action": self.action,
            "links": [{"href": link.href, "text": link.text} for link in self.links],
            "details": dict(self.details),
            "component": self.component,
            "group": self.group,
            "event_class": self.event_class,
            "at": self.at.isoformat() if self.at is not None else None,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Message:
        at = value.get("at")
        return cls(
            kind=value["kind"],
            title=value["title"],
            text=value["text"],
            severity=value.get("severity", "info"),
            html=value.get("html"),
            dedup_key=value.get("dedup_key"),
            action=value.get("action", "trigger"),
            links=tuple(Link(item["href"], item["text"]) for item in value.get("links", [])),
            details=value.get("details") or {},
            component=value.get("component"),
            group=value.get("group"),
            event_class=value.get("event_class"),
            at=datetime.fromisoformat(at) if at else None,
        )


def find_channel(catalog: Catalog, name: str) -> Channel | None:
    return next((c for c in catalog.channels if c.name == name), None)


def channel_or_error(catalog: Catalog, name: str) -> Channel:
    channel = find_channel(catalog, name)
    if channel is None:
        known = ", ".join(sorted(c.name for c in catalog.channels)) or "none"
        raise NotFound(
            f"no channel {name!r} in the catalogue (channels: {known})", code="unknown_channel"
        )
    return channel


def enqueue(
    conn: Connection,
    catalog: Catalog,
    channel_name: str,
    message: Message,
    *,
    now: datetime,
    key: str,
) -> bool:
    """Queue `message` on a catalogue channel in the caller's transaction (it only flushes).

    Idempotent by `key`, which is unique per channel: False when this channel already has a
    notification with that key (the one queued first stays; nothing is sent twice). The same
    key may queue the message on several channels. An unknown channel raises NotFound.
    """
    channel = channel_or_error(catalog, channel_name)
    if not key or len(key) > 200:
        raise ValueError("a notification key has 1 to 200 characters")
    rendered = message.to_json()
    rendered["at"] = (message.at or now).isoformat()
    return repository.insert_notification(
        conn,
        {
            "channel": channel.name,
            "kind": message.kind,
            "idempotency_key": key,
            "message": rendered,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )


def list_notifications(
    conn: Connection, flt: NotificationFilter, limit: int, cursor: str | None
) -> NotificationPage:
    """A page of notifications, newest first, each with its attempts."""

    def fetch(n: int, before: int | None) -> list[Any]:
        return repository.list_notifications(conn, flt, n, before)

    page, next_cursor = seq_page(fetch, limit, cursor)
    attempts = repository.attempts_of(conn, [r.id for r in page])
    return NotificationPage(
        items=[
            Notification(
                id=r.id,
                channel=r.channel,
                kind=r.kind,
                idempotency_key=r.idempotency_key,
                title=r.message.get("title", ""),
                severity=r.message.get("severity", "info"),
                status=r.status,
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at,
                last_error=r.last_error,
                created_at=r.created_at,
                sent_at=r.sent_at,
                attempt_log=[
                    DeliveryAttempt(
                        attempt=a.attempt,
                        at=a.at,
                        outcome=a.outcome,
                        status_code=a.status_code,
                        detail=a.detail,
                        duration_ms=a.duration_ms,
                        worker=a.worker,
                    )
                    for a in attempts.get(r.id, [])
                ],
            )
            for r in page
        ],
        next_cursor=next_cursor,
    )
