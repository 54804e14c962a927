from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from control_tower.models.base import UTCDateTime, metadata

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("source", String(32), nullable=True),
    # sha256 of the bearer token; the token itself and the signing secret are never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("rate_per_minute", Integer, nullable=True),
    Column("burst", Integer, nullable=True),
)
