"""Staff users CT has a say about: a role granted in CT, access revoked, "sign out everywhere".

A Firebase ID token proves who someone is; whether they may use CT, and as what, is decided
here: a role granted with `ct users grant` wins over the token's custom claim, a revoked user is
refused whatever the claim says, and an ID token issued (`auth_time`) before the user's
not-before time is refused, which signs them out of every device at once.

The UI keeps a session per sign-in whose row points at a token (web/sessions_repository.py);
a Firebase user's sessions point at a row named `firebase:<email>` in `tokens` whose token no
one holds (its hash is of random bytes that were never shown). Its role follows the user's, and
revoking it ends the user's UI sessions at their next click.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from control_tower.audit import chain
from control_tower.auth.roles import STAFF_ROLES, Role
from control_tower.auth.tokens import NAME_MAX, SESSION_ROW_PREFIX, hash_token
from control_tower.db import conflict_insert
from control_tower.kit.errors import Unprocessable
from control_tower.models import staff_users, tokens

EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
EMAIL_MAX = NAME_MAX - len(SESSION_ROW_PREFIX)


@dataclass(frozen=True)
class StaffUser:
    email: str
    role: Role | None
    not_before: datetime | None
    revoked_at: datetime | None


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.fullmatch(value) or len(value) > EMAIL_MAX:
        raise Unprocessable(
            f"not an email address of at most {EMAIL_MAX} characters: {email!r}",
            details={"field": "email"},
        )
    return value


def staff_role(value: Any) -> Role | None:
    """A staff role named by `value` (a custom claim, a table row), or None."""
    return next((role for role in STAFF_ROLES if role.value == value), None)


def find_user(conn: Connection, email: str) -> StaffUser | None:
    row = conn.execute(select(staff_users).where(staff_users.c.email == email)).first()
    if row is None:
        return None
    return StaffUser(row.email, staff_role(row.role), row.not_before, row.revoked_at)


def list_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(staff_users).order_by(staff_users.c.email))
    return [dict(r._mapping) for r in rows]


def _upsert(conn: Connection, email: str, now: datetime, **values: Any) -> None:
    conn.execute(
        conflict_insert(conn, staff_users)
        .values(email=email, created_at=now, updated_at=now, **values)
        .on_conflict_do_update(
            index_elements=[staff_users.c.email], set_={"updated_at": now, **values}
        )
    )


def grant(conn: Connection, *, email: str, role: Role, now: datetime, actor: str) -> None:
    if role not in STAFF_ROLES:
        raise Unprocessable(
            "a person gets a staff role: viewer, operator, maintainer or owner",
            details={"field": "role"},
        )
    email = normalise_email(email)
    _upsert(conn, email, now, role=role.value, revoked_at=None)
    conn.execute(
        update(tokens)
        .where(tokens.c.name == SESSION_ROW_PREFIX + email, tokens.c.revoked_at.is_(None))
        .values(role=role.value)
    )
    chain.append(
        conn, at=now, actor=actor, action="user.granted", target=f"user:{email}",
        details={"role": role.value},
    )  # fmt: skip


def revoke(conn: Connection, *, email: str, now: datetime, actor: str) -> None:
    """Refuse the person from now on, whatever their token's claims say; ends their UI
    sessions."""
    email = normalise_email(email)
    _upsert(conn, email, now, role=None, revoked_at=now)
    _end_ui_sessions(conn, email, now)
    chain.append(conn, at=now, actor=actor, action="user.revoked", target=f"user:{email}")


def sign_out_everywhere(conn: Connection, *, email: str, now: datetime, actor: str) -> None:
    """Refuse every ID token the person got before now, and end their UI sessions; signing in
    again afterwards works."""
    email = normalise_email(email)
    _upsert(conn, email, now, not_before=now)
    _end_ui_sessions(conn, email, now)
    chain.append(
        conn, at=now, actor=actor, action="user.signed_out_everywhere", target=f"user:{email}"
    )


def _end_ui_sessions(conn: Connection, email: str, now: datetime) -> None:
    conn.execute(
        update(tokens)
        .where(tokens.c.name == SESSION_ROW_PREFIX + email, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def session_token_id(conn: Connection, *, email: str, role: Role, now: datetime) -> str:
    """The id of the row a Firebase user's UI sessions point at, live and with `role`.

    A revoked row (signed out everywhere, access revoked) comes back with a new id, so the
    sessions that ended with it stay ended."""
    name = SESSION_ROW_PREFIX + normalise_email(email)
    row = conn.execute(
        select(tokens.c.token_id, tokens.c.revoked_at).where(tokens.c.name == name)
    ).first()
    if row is not None and row.revoked_at is None:
        conn.execute(update(tokens).where(tokens.c.name == name).values(role=role.value))
        return str(row.token_id)
    token_id = secrets.token_hex(8)
    values = {
        "token_id": token_id,
        "role": role.value,
        "token_hash": hash_token(secrets.token_urlsafe(32)),
        "created_at": now,
        "revoked_at": None,
    }
    if row is None:
        conn.execute(
            conflict_insert(conn, tokens)
            .values(name=name, source=None, **values)
            .on_conflict_do_update(index_elements=[tokens.c.name], set_=values)
        )
    else:
        conn.execute(update(tokens).where(tokens.c.name == name).values(**values))
    return token_id
