from __future__ import annotations

from sqlalchemy import Column, String, Table

from control_tower.models.base import UTCDateTime, metadata

# One row per UI sign-in. The browser's cookie holds the session id; the store keeps only its
# sha256, so a copy of the store signs no one in. `token_id` is the token the person signed in
# with (tokens.token_id, no foreign key: a rotated token changes its id, which ends its
# sessions). `csrf_secret` is what the session's form tokens are derived from.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False),
    Column("csrf_secret", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
