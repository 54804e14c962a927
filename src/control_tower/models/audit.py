from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from control_tower.models.base import BigIntId, JsonType, UTCDateTime, metadata

# Append-only: each row's hash covers its content and the previous row's hash.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("details", JsonType, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row naming the chain's tip; updating it first serialises appends on every backend.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigIntId, nullable=False),
    Column("last_hash", String(64), nullable=False),
)
