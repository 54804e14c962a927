from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from control_tower.models.base import BigIntId, JsonType, UTCDateTime, metadata

AlertState = Literal["firing", "acknowledged", "resolved"]
# What a notification told the channels (PagerDuty's event_action).
NotifyAction = Literal["trigger", "acknowledge", "resolve"]

# One row per alert: an alert rule's condition holding for one set of labels (its
# fingerprint), from firing to resolved. A fingerprint that fires again after it resolved is a
# new alert; `open_fingerprint` (the fingerprint while not resolved, else NULL) is unique, so a
# fingerprint has at most one open alert however many routers or jobs see it at once.
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("open_fingerprint", String(64), nullable=True, unique=True),
    Column("labels", JsonType, nullable=False),
    Column("state", String(16), nullable=False),  # an AlertState
    Column("severity", String(16), nullable=False),
    Column("summary", String(1024), nullable=False),
    Column("value", Float, nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    # Notifications: how many went out, the last one's action and time, and when the next is
    # due (NULL: none is); a silence holds a due trigger until it ends.
    Column("notify_count", Integer, nullable=False, server_default="0"),
    Column("notified_action", String(16), nullable=True),  # a NotifyAction
    Column("last_notified_at", UTCDateTime(), nullable=True),
    Column("next_notify_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_alerts_state_id", "state", "id"),
    Index("ix_alerts_fingerprint_id", "fingerprint", "id"),
    Index("ix_alerts_next_notify_at", "next_notify_at"),
)

# Append-only history of each alert: fired, notified, acknowledged, resolved (migration 0012
# refuses UPDATE and DELETE in the database).
alert_events = Table(
    "alert_events",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=True),
    Column("alert_id", BigIntId, ForeignKey("alerts.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("details", JsonType, nullable=False),
    Index("ix_alert_events_alert_id_seq", "alert_id", "seq"),
    # What happened in a period (the daily digest's alerts fired, acknowledged, resolved).
    Index("ix_alert_events_at", "at"),
)

# Silences: while one is active (starts_at ≤ now < ends_at, not deleted), alerts it matches send
# no trigger notifications. A NULL matcher matches anything; at least one is set.
silences = Table(
    "silences",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=True),
    Column("system", String(32), nullable=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime(), nullable=True),
    Column("deleted_by", String(128), nullable=True),
    Index("ix_silences_ends_at", "ends_at"),
)

# The sliding count of event_rate rules, kept by the router: qualifying events per rule,
# fingerprint and second. Buckets older than the rule's window are pruned by `alerts:evaluate`.
alert_rate_buckets = Table(
    "alert_rate_buckets",
    metadata,
    Column("rule", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("bucket_at", UTCDateTime(), nullable=False),
    Column("hits", Integer, nullable=False),
    PrimaryKeyConstraint("rule", "fingerprint", "bucket_at"),
)
