"""The producer's HMAC signature over the raw body (and its optional timestamp)."""

from __future__ import annotations

from datetime import datetime

from control_tower.auth.principal import Principal
from control_tower.auth.tokens import signing_secret
from control_tower.kit.errors import Unauthorized
from control_tower.kit.signing import signature_matches


def verify_signature(
    *,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    principal: Principal,
    master_key: bytes,
    now: datetime,
    tolerance_seconds: int,
) -> None:
    """401 unless `signature` is the producer's HMAC of `body` (and of `timestamp`, which must
    then be within the tolerance of `now`)."""
    if not signature:
        raise Unauthorized(
            "missing X-CT-Signature (sha256=<hex HMAC-SHA256 of the raw body>)",
            code="signature_missing",
        )
    if timestamp is not None:
        # Digits only: int() would also take " +1_764_150_000 " and non-ASCII digits; and a
        # few of them: a 400-digit number is no time, and overflows the float it is compared as.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Unauthorized("X-CT-Timestamp must be unix seconds", code="bad_timestamp")
        skew = abs(now.timestamp() - int(timestamp))
        if skew > tolerance_seconds:
            raise Unauthorized(
                f"X-CT-Timestamp is {int(skew)} s from server time; tolerance is "
                f"{tolerance_seconds} s",
                code="stale_timestamp",
            )
    secret = signing_secret(master_key, principal.token_id)
    if not signature_matches(secret, body, signature, timestamp):
        raise Unauthorized("X-CT-Signature does not match the body", code="bad_signature")
