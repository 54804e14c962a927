"""UI sessions: a staff token pasted once opens a server-side session; the cookie holds only
the session's random id.

The store keeps the id's sha256 (`ui_sessions`), so neither a copy of the store nor a log
line signs anyone in; signing out revokes the row, and a session dies with its token (revoked,
expired or rotated). Forms carry a CSRF token derived from the session's secret; the sign-in
form, which has no session yet, carries one signed over a short-lived cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from fastapi import Request, Response

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.context import AppContext
from control_tower.db import unit_of_work
from control_tower.kit.signing import derive_secret
from control_tower.web import sessions_repository as repo

COOKIE = "ct_session"
COOKIE_PATH = "/ui"
LOGIN_COOKIE = "ct_login_form"
LOGIN_PATH = "/ui/login"
# A sign-in form is accepted this long after it was served; a page load reuses a form cookie
# younger than half of it, so two tabs opened together both work.
LOGIN_FORM_SECONDS = 3600


@dataclass(frozen=True)
class UISession:
    principal: Principal
    session_hash: str
    csrf_token: str  # what this session's forms must send back


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def form_token(csrf_secret: str) -> str:
    """The CSRF token of a session's forms: derived, so the stored secret never travels."""
    return hmac.new(csrf_secret.encode("ascii"), b"ct-ui-form", hashlib.sha256).hexdigest()


def tokens_match(expected: str, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(
        expected.encode("ascii"), submitted.encode("utf-8", "replace")
    )


async def open_session(ctx: AppContext, principal: Principal) -> str:
    """A new session for `principal`; returns the id that only the cookie keeps."""
    session_id = secrets.token_urlsafe(32)
    now = ctx.clock.now()

    def write() -> None:
        with unit_of_work(ctx.engine) as conn:
            repo.purge_expired_sessions(conn, now)
            repo.insert_session(
                conn,
                session_hash=session_hash(session_id),
                token_id=principal.token_id,
                csrf_secret=secrets.token_hex(32),
                now=now,
                expires_at=now + session_lifetime(ctx),
            )

    await anyio.to_thread.run_sync(write)
    return session_id


def session_lifetime(ctx: AppContext) -> timedelta:
    return timedelta(hours=ctx.settings.ui_session_hours)


async def current_session(request: Request, ctx: AppContext) -> UISession | None:
    """The request's live session (looked up once per request), or None."""
    known: UISession | None = getattr(request.state, "ui_session", None)
    if known is not None:
        return known
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    digest = session_hash(session_id)
    now = ctx.clock.now()

    def lookup() -> repo.LiveSession | None:
        with unit_of_work(ctx.engine, write=False) as conn:
            return repo.find_live_session(conn, digest, now)

    live = await anyio.to_thread.run_sync(lookup)
    if live is None or live.principal.role is Role.producer:
        return None
    session = UISession(live.principal, digest, form_token(live.csrf_secret))
    request.state.ui_session = session
    return session


async def current_principal(request: Request, ctx: AppContext) -> Principal | None:
    session = await current_session(request, ctx)
    return session.principal if session is not None else None


async def close_session(ctx: AppContext, session: UISession) -> None:
    now = ctx.clock.now()

    def write() -> None:
        with unit_of_work(ctx.engine) as conn:
            repo.revoke_session(conn, session.session_hash, now)

    await anyio.to_thread.run_sync(write)


def _secure(request: Request) -> bool:
    # "https" when the connection is TLS, or when a proxy listed in CT_TRUSTED_PROXIES said
    # so with X-Forwarded-Proto (uvicorn believes only those).
    return request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, ctx: AppContext, session_id: str
) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(session_lifetime(ctx).total_seconds()),
        path=COOKIE_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    # Before sessions the cookie held the token itself, on path "/": a browser would send that
    # one after the new one and it would win, so it goes.
    response.delete_cookie(
        COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, secure=_secure(request), httponly=True, samesite="strict"
    )


# --- the sign-in form's CSRF token (no session yet) ------------------------------------------


def _login_key(ctx: AppContext) -> bytes:
    return derive_secret(ctx.master_key, "ui-login-form").encode("ascii")


def _issued_at(nonce: str) -> datetime | None:
    stamp = nonce.partition(".")[0]
    if not (stamp.isascii() and stamp.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(stamp), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _age_seconds(nonce: str, now: datetime) -> float | None:
    issued = _issued_at(nonce)
    return None if issued is None else (now - issued).total_seconds()


def login_form_nonce(request: Request, ctx: AppContext) -> str:
    """The form cookie's value to serve: the browser's own while young, else a new one."""
    current = request.cookies.get(LOGIN_COOKIE) or ""
    age = _age_seconds(current, ctx.clock.now())
    if age is not None and 0 <= age < LOGIN_FORM_SECONDS / 2:
        return current
    return f"{int(ctx.clock.now().timestamp())}.{secrets.token_urlsafe(16)}"


def login_form_token(ctx: AppContext, nonce: str) -> str:
    return hmac.new(_login_key(ctx), nonce.encode("utf-8"), hashlib.sha256).hexdigest()


def login_form_valid(request: Request, ctx: AppContext, submitted: str | None) -> bool:
    """The form's token matches the cookie served with it, and the cookie is not stale."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    age = _age_seconds(nonce, ctx.clock.now())
    if age is None or not 0 <= age <= LOGIN_FORM_SECONDS:
        return False
    return tokens_match(login_form_token(ctx, nonce), submitted)


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path=LOGIN_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_login_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        LOGIN_COOKIE, path=LOGIN_PATH, secure=_secure(request), httponly=True, samesite="strict"
    )
