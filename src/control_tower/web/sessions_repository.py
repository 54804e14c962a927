"""SQL of UI sessions: open, find a live one with its token's principal, revoke, purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.models import tokens, ui_sessions


@dataclass(frozen=True)
class LiveSession:
    principal: Principal
    csrf_secret: str


def insert_session(
    conn: Connection,
    *,
    session_hash: str,
    token_id: str,
    csrf_secret: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        ui_sessions.insert().values(
            session_hash=session_hash,
            token_id=token_id,
            csrf_secret=csrf_secret,
            created_at=now,
            expires_at=expires_at,
        )
    )


def find_live_session(conn: Connection, session_hash: str, now: datetime) -> LiveSession | None:
    """The session and its token's principal, or None when the session is unknown, expired or
    revoked, or its token is revoked, expired or rotated (a rotation gives the token a new id).

    The token checks are `auth.tokens.resolve_token`'s, on the token the session was opened
    with: a session never outlives what its token may do through the API.
    """
    row = conn.execute(
        select(
            ui_sessions.c.csrf_secret,
            tokens.c.token_id,
            tokens.c.name,
            tokens.c.role,
            tokens.c.source,
            tokens.c.rate_per_minute,
            tokens.c.burst,
            tokens.c.expires_at.label("token_expires_at"),
        )
        .join(tokens, tokens.c.token_id == ui_sessions.c.token_id)
        .where(
            ui_sessions.c.session_hash == session_hash,
            ui_sessions.c.revoked_at.is_(None),
            ui_sessions.c.expires_at > now,
            tokens.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    if row.token_expires_at is not None and row.token_expires_at <= now:
        return None
    principal = Principal(
        token_id=row.token_id,
        name=row.name,
        role=Role(row.role),
        source=row.source,
        rate_per_minute=row.rate_per_minute,
        burst=row.burst,
        expires_at=row.token_expires_at,
    )
    return LiveSession(principal, row.csrf_secret)


def revoke_session(conn: Connection, session_hash: str, now: datetime) -> None:
    conn.execute(
        update(ui_sessions)
        .where(ui_sessions.c.session_hash == session_hash, ui_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def purge_expired_sessions(conn: Connection, now: datetime) -> int:
    """Forget sessions past their expiry (revoked ones too, once they would have expired)."""
    result = conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= now))
    return int(result.rowcount or 0)
