"""Google identities as bearer tokens: staff with Firebase ID tokens, producers with Google-
signed service-account ID tokens (docs/auth.md).

Verification is PyJWT's (RS256 only, so `alg: none` and HMAC tricks never reach a key),
against keys fetched from configurable URLs (auth/google_keys.py). Times are checked against
CT's clock, not the process's, like every other rule. A bearer is only taken for a JWT when
it looks like one (three dot-separated base64url parts); CT's own tokens never do, so their
path costs one `count`. Verified principals are cached for `CT_TOKEN_CACHE_SECONDS` (never
past the token's expiry), like token lookups.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import jwt
from sqlalchemy import Engine

from control_tower.auth import users
from control_tower.auth.google_keys import GoogleKeySet
from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.auth.tokens import SESSION_ROW_PREFIX, principal_for_name
from control_tower.db import unit_of_work
from control_tower.kit.clock import Clock
from control_tower.kit.errors import Forbidden, Unauthorized, Unprocessable

JWT_MAX = 8192
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
FIREBASE_ISSUER = "https://securetoken.google.com/"
# How far an `iat` or `auth_time` may be ahead of CT's clock (the issuer's clock may run fast).
CLOCK_SKEW = timedelta(seconds=60)


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= JWT_MAX and bool(_JWT.fullmatch(token))


@dataclass(frozen=True)
class ServiceAccountLink:
    """A service account's catalogue entry: the source it produces for and the producer
    token it acts as."""

    source: str
    token: str


@dataclass(frozen=True)
class IdentityConfig:
    firebase_project_id: str | None
    firebase_certs_url: str
    google_certs_url: str
    audience: str | None  # CT's public URL: what service-account tokens must be issued for
    role_claim: str
    cache_seconds: float


@dataclass(frozen=True)
class StaffIdentity:
    """A verified Firebase user with a CT role."""

    email: str
    role: Role


class IdentityVerifier:
    def __init__(
        self,
        config: IdentityConfig,
        engine: Engine,
        clock: Clock,
        service_accounts: Mapping[str, ServiceAccountLink],
        *,
        firebase_keys: GoogleKeySet | None = None,
        google_keys: GoogleKeySet | None = None,
    ) -> None:
        self.config = config
        self._engine = engine
        self._clock = clock
        self._service_accounts = dict(service_accounts)
        self.firebase_keys = firebase_keys or GoogleKeySet(config.firebase_certs_url)
        self.google_keys = google_keys or GoogleKeySet(config.google_certs_url)
        self._cache: dict[str, tuple[float, datetime, Principal]] = {}
        self._lock = threading.Lock()

    async def principal_for(self, token: str) -> Principal:
        """The principal a Firebase or service-account ID token stands for: 401 when the token
        is not valid, 403 when it is but gives no access to CT."""
        digest = hashlib.sha256(token.encode("ascii")).hexdigest()
        now = self._clock.now()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic() and cached[1] > now:
            return cached[2]
        principal, expires = await anyio.to_thread.run_sync(self._principal, token, now)
        if self.config.cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= 10_000:
                    self._cache.clear()
                deadline = time.monotonic() + self.config.cache_seconds
                self._cache[digest] = (deadline, expires, principal)
        return principal

    async def ui_principal(self, token: str) -> Principal:
        """The principal a UI session opens for a Firebase ID token pasted at the sign-in:
        its token id is the user's session row (auth/users.py), so the session follows the
        user's role and ends when they are revoked or signed out everywhere."""
        now = self._clock.now()

        def sign_in() -> Principal:
            staff = self._staff(token, now)
            with unit_of_work(self._engine) as conn:
                token_id = users.session_token_id(conn, email=staff.email, role=staff.role, now=now)
            return Principal(
                token_id=token_id, name=SESSION_ROW_PREFIX + staff.email, role=staff.role,
                source=None, rate_per_minute=None, burst=None,
            )  # fmt: skip

        return await anyio.to_thread.run_sync(sign_in)

    # --- synchronous: key fetches and the store -------------------------------------------

    def _principal(self, token: str, now: datetime) -> tuple[Principal, datetime]:
        issuer = _unverified_issuer(token)
        if self.config.firebase_project_id and issuer == self._firebase_issuer():
            claims = self._firebase_claims(token, now)
            staff = self._staff_from_claims(claims)
            principal = Principal(
                token_id=f"user:{staff.email}", name=staff.email, role=staff.role,
                source=None, rate_per_minute=None, burst=None,
            )  # fmt: skip
            return principal, _expiry(claims)
        if issuer in GOOGLE_ISSUERS:
            claims = self._service_account_claims(token, now)
            return self._service_account_principal(claims, now), _expiry(claims)
        raise Unauthorized("an ID token from an issuer CT does not accept")

    def _staff(self, token: str, now: datetime) -> StaffIdentity:
        if not self.config.firebase_project_id:
            raise Unauthorized("Firebase sign-in is not configured (CT_FIREBASE_PROJECT_ID)")
        if _unverified_issuer(token) != self._firebase_issuer():
            raise Unauthorized("not a Firebase ID token of this project")
        return self._staff_from_claims(self._firebase_claims(token, now))

    def _firebase_issuer(self) -> str:
        return FIREBASE_ISSUER + (self.config.firebase_project_id or "")

    def _firebase_claims(self, token: str, now: datetime) -> dict[str, Any]:
        claims = _decode(
            token, self.firebase_keys, self.config.firebase_project_id, self._firebase_issuer()
        )
        _check_times(claims, now, "auth_time")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 128:
            raise Unauthorized("the ID token has no subject")
        return claims

    def _service_account_claims(self, token: str, now: datetime) -> dict[str, Any]:
        audience = self.config.audience
        if not audience:
            raise Unauthorized("service-account ID tokens are not accepted (CT_PUBLIC_URL)")
        audiences = sorted({audience, audience.rstrip("/")})
        claims = _decode(token, self.google_keys, audiences, list(GOOGLE_ISSUERS))
        _check_times(claims, now)
        return claims

    def _staff_from_claims(self, claims: dict[str, Any]) -> StaffIdentity:
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            raise Forbidden("CT needs a verified email in the Firebase ID token")
        try:
            email = users.normalise_email(email)
        except Unprocessable as exc:
            raise Forbidden(f"CT cannot use the email in this ID token: {exc.message}") from exc
        with unit_of_work(self._engine, write=False) as conn:
            user = users.find_user(conn, email)
        if user is not None and user.not_before is not None:
            signed_in = datetime.fromtimestamp(claims["auth_time"], UTC)
            if signed_in < user.not_before:
                raise Unauthorized(
                    "signed out everywhere since this sign-in: sign in again",
                    code="signed_out",
                )
        if user is not None and user.revoked_at is not None:
            raise Forbidden(f"{email} has no access to CT (revoked)", code="insufficient_role")
        role = (user.role if user else None) or users.staff_role(claims.get(self.config.role_claim))
        if role is None:
            raise Forbidden(
                f"{email} has no CT role: an owner can run `ct users grant {email} ROLE`",
                code="insufficient_role",
            )
        return StaffIdentity(email, role)

    def _service_account_principal(self, claims: dict[str, Any], now: datetime) -> Principal:
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            raise Unauthorized("the service-account ID token has no verified email")
        link = self._service_accounts.get(email.lower())
        if link is None:
            raise Forbidden(
                f"service account {email} is not in the catalogue (identity.service_accounts)",
                code="unknown_service_account",
            )
        with unit_of_work(self._engine, write=False) as conn:
            principal = principal_for_name(conn, link.token, now)
        if principal is None:
            raise Unauthorized(
                f"the token {link.token!r} that service account {email} acts as is unknown, "
                "revoked or expired"
            )
        if principal.role is not Role.producer or principal.source != link.source:
            raise Forbidden(
                f"the token {link.token!r} is not a producer token of source {link.source!r}",
                code="wrong_source",
            )
        return principal


def _unverified_issuer(token: str) -> Any:
    """The `iss` claim, read without verification only to choose the keys and rules."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError as exc:
        raise Unauthorized("malformed ID token") from exc


def _decode(
    token: str, keys: GoogleKeySet, audience: str | list[str] | None, issuer: str | list[str]
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("malformed ID token") from exc
    if header.get("alg") != "RS256":
        raise Unauthorized("ID tokens must be signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("the ID token names no key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys.key(kid),
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            # Times are checked against CT's clock below, not the process's.
            options={
                "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                "require": ["exp", "iat", "aud", "iss", "sub"],
            },
        )  # fmt: skip
    except jwt.InvalidAudienceError as exc:
        raise Unauthorized("the ID token is for another audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise Unauthorized("the ID token is from another issuer") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid ID token ({type(exc).__name__})") from exc
    return claims


def _check_times(claims: dict[str, Any], now: datetime, *past: str) -> None:
    moments = {}
    for name in ("exp", "iat", *past):
        value = claims.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Unauthorized(f"the ID token's {name} is missing or not a number")
        try:
            moments[name] = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise Unauthorized(f"the ID token's {name} is not a time") from exc
    if moments["exp"] <= now:
        raise Unauthorized("the ID token has expired", code="token_expired")
    for name in ("iat", *past):
        if moments[name] > now + CLOCK_SKEW:
            raise Unauthorized(f"the ID token's {name} is in the future")


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC)
