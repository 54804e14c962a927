"""Service tokens: create (shown once), list, revoke, rotate, and resolve a bearer token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from control_tower.audit import chain
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.kit.errors import Conflict, NotFound, Unprocessable
from control_tower.kit.signing import derive_secret
from control_tower.models import tokens

TOKEN_PREFIX = "ct_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def signing_secret(master_key: bytes, token_id: str) -> str:
    """A producer's HMAC key, derived from CT's master key so the store never holds it."""
    return "whsec_" + derive_secret(master_key, f"producer-signing:{token_id}")


@dataclass(frozen=True)
class IssuedToken:
    name: str
    role: Role
    source: str | None
    token: str
    hmac_secret: str | None
    expires_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token, "role": self.role.value, "name": self.name}
        if self.hmac_secret is not None:
            out["hmac_secret"] = self.hmac_secret
            out["source"] = self.source
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        return out


NAME_MAX = 128  # tokens.name is VARCHAR(128); PostgreSQL refuses longer, SQLite would not


def _check_shape(role: Role, source: str | None, known_sources: set[str], name: str) -> None:
    if not name.strip() or len(name) > NAME_MAX:
        raise Unprocessable(
            f"a token name is 1 to {NAME_MAX} characters, not blank", details={"field": "name"}
        )
    if role is Role.producer:
        if not source:
            raise Unprocessable("a producer token needs --source", details={"field": "source"})
        if source not in known_sources:
            raise Unprocessable(
                f"unknown source {source!r}; the catalogue has {sorted(known_sources)}",
                details={"field": "source"},
            )
    elif source:
        raise Unprocessable(
            "only producer tokens are bound to a source", details={"field": "source"}
        )


def create_token(
    conn: Connection,
    *,
    name: str,
    role: Role,
    source: str | None,
    now: datetime,
    master_key: bytes,
    known_sources: set[str],
    actor: str,
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
    burst: int | None = None,
) -> IssuedToken:
    _check_shape(role, source, known_sources, name)
    if conn.execute(select(tokens.c.token_id).where(tokens.c.name == name)).first():
        raise Conflict(f"a token named {name!r} already exists", code="token_exists")
    token_id = secrets.token_hex(8)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        tokens.insert().values(
            token_id=token_id,
            name=name,
            role=role.value,
            source=source,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=expires_at,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
    )
    chain.append(
        conn,
        at=now,
        actor=actor,
        action="token.created",
        target=f"token:{name}",
        details={"role": role.value, "source": source, "token_id": token_id},
    )
    secret = signing_secret(master_key, token_id) if role is Role.producer else None
    return IssuedToken(name, role, source, token, secret, expires_at)


def rotate_token(
    conn: Connection, *, name: str, now: datetime, master_key: bytes, actor: str
) -> IssuedToken:
    """A new token and signing secret for the same name and role; the old ones stop working."""
    row = conn.execute(select(tokens).where(tokens.c.name == name)).first()
    if row is None or row.revoked_at is not None:
        raise NotFound(f"no active token named {name!r}")
    token_id = secrets.token_hex(8)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        update(tokens)
        .where(tokens.c.name == name)
        .values(token_id=token_id, token_hash=hash_token(token), created_at=now)
    )
    chain.append(
        conn,
        at=now,
        actor=actor,
        action="token.rotated",
        target=f"token:{name}",
        details={"token_id": token_id},
    )
    role = Role(row.role)
    secret = signing_secret(master_key, token_id) if role is Role.producer else None
    return IssuedToken(name, role, row.source, token, secret, row.expires_at)


def revoke_token(conn: Connection, *, name: str, now: datetime, actor: str) -> None:
    result = conn.execute(
        update(tokens)
        .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"no active token named {name!r}")
    chain.append(conn, at=now, actor=actor, action="token.revoked", target=f"token:{name}")


def list_tokens(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            tokens.c.name,
            tokens.c.role,
            tokens.c.source,
            tokens.c.created_at,
            tokens.c.expires_at,
            tokens.c.revoked_at,
            tokens.c.rate_per_minute,
            tokens.c.burst,
        ).order_by(tokens.c.name)
    )
    return [dict(r._mapping) for r in rows]


def resolve_token(conn: Connection, token: str, now: datetime) -> Principal | None:
    """The principal for a bearer token, or None when unknown, revoked or expired."""
    row = conn.execute(select(tokens).where(tokens.c.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return Principal(
        token_id=row.token_id,
        name=row.name,
        role=Role(row.role),
        source=row.source,
        rate_per_minute=row.rate_per_minute,
        burst=row.burst,
        expires_at=row.expires_at,
    )
