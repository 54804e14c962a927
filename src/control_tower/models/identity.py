"""Staff identities CT decides about, and the credentials a rotation keeps alive for a while."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from control_tower.models.base import UTCDateTime, metadata

# One row per staff email CT has a say about (`ct users grant|revoke|signout-everywhere`).
# `role` overrides a Firebase custom claim; `revoked_at` refuses the person whatever the claim
# says; an ID token whose `auth_time` is before `not_before` is refused ("sign out everywhere").
staff_users = Table(
    "staff_users",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("role", String(16), nullable=True),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# What `ct token rotate NAME --overlap …` keeps working: the old token (its sha256) and the id
# its signing secret was derived from, until `valid_until`. `name` is the token's name
# (tokens.name); a revoked token takes its predecessors with it.
token_predecessors = Table(
    "token_predecessors",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False),
    Column("name", String(128), nullable=False, index=True),
    Column("rotated_at", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
)
