"""Service tokens: create (shown once), list, revoke, rotate (with an overlap), and resolve a
bearer token."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from control_tower.audit import chain
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.kit.errors import Conflict, NotFound, Unprocessable
from control_tower.kit.signing import derive_secret
from control_tower.models import token_predecessors, tokens

TOKEN_PREFIX = "ct_"
# Names of the rows that carry a Firebase user's UI sessions (auth/users.py): not tokens
# anyone holds, so `ct token create` refuses the prefix and listings and age checks skip them.
SESSION_ROW_PREFIX = "firebase:"
MAX_OVERLAP = timedelta(days=90)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def signing_secret(master_key: bytes, token_id: str) -> str:
    """A producer's HMAC key, derived from CT's master key so the store never holds it."""
    return "whsec_" + derive_secret(master_key, f"producer-signing:{token_id}")


class SigningKeys:
    """The producers' signing secrets, each derived once: a signed request would otherwise
    cost one more HMAC before its own."""

    def __init__(self, master_key: bytes, max_entries: int = 10_000) -> None:
        self._master_key = master_key
        self._max = max_entries
        self._derived: dict[str, str] = {}
        self._lock = threading.Lock()

    def secret(self, token_id: str) -> str:
        found = self._derived.get(token_id)
        if found is None:
            found = signing_secret(self._master_key, token_id)
            with self._lock:
                if len(self._derived) >= self._max:
                    self._derived.clear()
                self._derived[token_id] = found
        return found

    def valid_at(self, principal: Principal, now: datetime) -> list[str]:
        """The producer's signing secrets valid at `now`: the current one first, then those a
        rotation's overlap keeps alive."""
        ids = [principal.token_id]
        ids += [token_id for token_id, until in principal.previous_signing if until > now]
        return [self.secret(token_id) for token_id in ids]


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
    if name.startswith(SESSION_ROW_PREFIX):
        raise Unprocessable(
            f"token names starting {SESSION_ROW_PREFIX!r} are CT's own", details={"field": "name"}
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
    conn: Connection,
    *,
    name: str,
    now: datetime,
    master_key: bytes,
    actor: str,
    overlap: timedelta = timedelta(0),
) -> IssuedToken:
    """A new token and signing secret for the same name and role. The old ones stop working
    now, or, with an `overlap`, when it ends: meanwhile either token and either secret work."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise Unprocessable(
            f"an overlap is 0 to {MAX_OVERLAP.days} days", details={"field": "overlap"}
        )
    row = conn.execute(select(tokens).where(tokens.c.name == name)).first()
    if row is None or row.revoked_at is not None:
        raise NotFound(f"no active token named {name!r}")
    valid_until = now + overlap
    if overlap:
        conn.execute(
            token_predecessors.insert().values(
                token_hash=row.token_hash,
                token_id=row.token_id,
                name=name,
                rotated_at=now,
                valid_until=valid_until,
            )
        )
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
        details={
            "token_id": token_id,
            "previous_token_id": row.token_id,
            "overlap_seconds": int(overlap.total_seconds()),
            "previous_valid_until": valid_until.isoformat(),
        },
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


def list_tokens(conn: Connection, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every token, never a secret. With `now`: each one's age in days (of its current token
    and signing secret: `created_at` moves on every rotation) and the end of the overlap in
    which a rotated predecessor still works, if any."""
    overlaps = (
        select(token_predecessors.c.name, func.max(token_predecessors.c.valid_until).label("until"))
        .where(token_predecessors.c.valid_until > now)
        .group_by(token_predecessors.c.name)
        .subquery()
        if now is not None
        else None
    )
    columns = [
        tokens.c.name,
        tokens.c.role,
        tokens.c.source,
        tokens.c.created_at,
        tokens.c.expires_at,
        tokens.c.revoked_at,
        tokens.c.rate_per_minute,
        tokens.c.burst,
    ]
    query = select(*columns).where(~tokens.c.name.startswith(SESSION_ROW_PREFIX, autoescape=True))
    if overlaps is not None:
        query = query.add_columns(overlaps.c.until.label("previous_valid_until")).outerjoin(
            overlaps, overlaps.c.name == tokens.c.name
        )
    out = []
    for row in conn.execute(query.order_by(tokens.c.name)):
        item = dict(row._mapping)
        if now is not None:
            item["age_days"] = (now - row.created_at).days
        out.append(item)
    return out


def stale_tokens(conn: Connection, now: datetime, max_age: timedelta) -> list[tuple[str, int]]:
    """(name, age in days) of each live token whose current token and secret are older than
    `max_age`, oldest first: what should be rotated."""
    rows = conn.execute(
        select(tokens.c.name, tokens.c.created_at)
        .where(
            tokens.c.revoked_at.is_(None),
            or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            tokens.c.created_at < now - max_age,
            ~tokens.c.name.startswith(SESSION_ROW_PREFIX, autoescape=True),
        )
        .order_by(tokens.c.created_at, tokens.c.name)
    )
    return [(row.name, (now - row.created_at).days) for row in rows]


def resolve_token(conn: Connection, token: str, now: datetime) -> Principal | None:
    """The principal for a bearer token, or None when unknown, revoked or expired. A token
    replaced by a rotation still resolves, to its successor's principal, until its overlap
    ends."""
    digest = hash_token(token)
    row = conn.execute(select(tokens).where(tokens.c.token_hash == digest)).first()
    until: datetime | None = None
    if row is None:
        found = conn.execute(
            select(tokens, token_predecessors.c.valid_until)
            .join(token_predecessors, token_predecessors.c.name == tokens.c.name)
            .where(
                token_predecessors.c.token_hash == digest, token_predecessors.c.valid_until > now
            )
        ).first()
        if found is None:
            return None
        row, until = found, found.valid_until
    if row.revoked_at is not None:
        return None
    return _principal(conn, row, now, until)


def principal_for_name(conn: Connection, name: str, now: datetime) -> Principal | None:
    """The principal of the live token called `name` (a service account acts as it)."""
    row = conn.execute(select(tokens).where(tokens.c.name == name)).first()
    if row is None or row.revoked_at is not None:
        return None
    return _principal(conn, row, now, None)


def _principal(
    conn: Connection, row: Any, now: datetime, until: datetime | None
) -> Principal | None:
    expires_at = row.expires_at
    if until is not None and (expires_at is None or until < expires_at):
        expires_at = until  # an old token: the token cache drops it when its overlap ends
    if expires_at is not None and expires_at <= now:
        return None
    previous = conn.execute(
        select(token_predecessors.c.token_id, token_predecessors.c.valid_until)
        .where(and_(token_predecessors.c.name == row.name, token_predecessors.c.valid_until > now))
        .order_by(token_predecessors.c.valid_until.desc())
    )
    return Principal(
        token_id=row.token_id,
        name=row.name,
        role=Role(row.role),
        source=row.source,
        rate_per_minute=row.rate_per_minute,
        burst=row.burst,
        expires_at=expires_at,
        previous_signing=tuple((r.token_id, r.valid_until) for r in previous),
    )
