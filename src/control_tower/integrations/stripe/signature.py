"""`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: HMAC-SHA256 of `"{t}.{raw body}"`
keyed with the endpoint's signing secret (its UTF-8 bytes, `whsec_` included), any `v1`
matching any of CT's secrets (several while a secret is rolled), `t` within the tolerance."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from control_tower.kit.errors import Unauthorized

TOLERANCE_SECONDS = 300
HEADER_MAX = 4096  # Stripe sends one or two signatures; this is far more than that


def parse_header(header: str) -> tuple[str, list[str]]:
    """(timestamp, v1 signatures) of a Stripe-Signature header; other schemes (v0) are
    skipped."""
    timestamp: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value.lower())
    if (
        timestamp is None
        or not (timestamp.isascii() and timestamp.isdigit())
        or len(timestamp) > 12
    ):
        raise Unauthorized("Stripe-Signature has no valid t=<unix seconds>", code="bad_timestamp")
    if not signatures:
        raise Unauthorized("Stripe-Signature has no v1 signature", code="bad_signature")
    return timestamp, signatures


def verify_stripe_signature(
    secrets: list[str],
    body: bytes,
    header: str | None,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    if not header:
        raise Unauthorized("missing Stripe-Signature", code="signature_missing")
    if len(header) > HEADER_MAX:
        raise Unauthorized("Stripe-Signature is too long", code="bad_signature")
    timestamp, offered = parse_header(header)
    skew = abs(now.timestamp() - int(timestamp))
    if skew > tolerance_seconds:
        raise Unauthorized(
            f"Stripe-Signature t is {int(skew)} s from server time; tolerance is "
            f"{tolerance_seconds} s",
            code="stale_timestamp",
        )
    message = timestamp.encode("ascii") + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
        if any(
            hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii", "replace"))
            for candidate in offered
        ):
            return
    raise Unauthorized("Stripe-Signature does not match the body", code="bad_signature")
