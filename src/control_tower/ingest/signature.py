"""The producer's HMAC signature over the raw body: CT's own `X-CT-Signature` (with its
optional timestamp), or Standard Webhooks' `webhook-id` / `webhook-timestamp` /
`webhook-signature` (docs/ingest.md §3).

Both are keyed by the producer's signing secrets: the current one and any a rotation's
overlap keeps alive. The same `whsec_…` secret gives each scheme the key its own libraries
derive from it: X-CT-Signature uses the secret's UTF-8 bytes (as GitHub and Stripe do),
Standard Webhooks the base64 decoding of the part after `whsec_` (as the specification and
its libraries do), so a producer pastes the one secret into either kind of sender.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from control_tower.auth.principal import Principal
from control_tower.auth.tokens import SigningKeys
from control_tower.kit.errors import Unauthorized
from control_tower.kit.signing import signature_matches

WEBHOOK_ID_MAX = 256
# A sender lists one signature per secret it holds; more than this is no rotation.
WEBHOOK_SIGNATURES_MAX = 8


@dataclass(frozen=True)
class WebhookHeaders:
    """Standard Webhooks' three headers, as sent."""

    msg_id: str | None
    timestamp: str | None
    signature: str

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> WebhookHeaders | None:
        """The headers when the request carries a `webhook-signature`, else None."""
        signature = headers.get("webhook-signature")
        if signature is None:
            return None
        return cls(headers.get("webhook-id"), headers.get("webhook-timestamp"), signature)


def verify_signature(
    *,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    principal: Principal,
    keys: SigningKeys,
    now: datetime,
    tolerance_seconds: int,
    webhook: WebhookHeaders | None = None,
) -> None:
    """401 unless `signature` is the producer's HMAC of `body` (and of `timestamp`, which must
    then be within the tolerance of `now`), or, without an X-CT-Signature, unless `webhook`
    holds a valid Standard Webhooks signature."""
    if not signature:
        if webhook is not None:
            verify_standard_webhook(
                body, webhook, keys.valid_at(principal, now), now, tolerance_seconds
            )
            return
        raise Unauthorized(
            "missing X-CT-Signature (sha256=<hex HMAC-SHA256 of the raw body>) or "
            "webhook-signature (Standard Webhooks)",
            code="signature_missing",
        )
    if timestamp is not None:
        check_timestamp(timestamp, now, tolerance_seconds, "X-CT-Timestamp")
    for secret in keys.valid_at(principal, now):
        if signature_matches(secret, body, signature, timestamp):
            return
    raise Unauthorized("X-CT-Signature does not match the body", code="bad_signature")


def check_timestamp(timestamp: str, now: datetime, tolerance_seconds: int, header: str) -> None:
    # Digits only: int() would also take " +1_764_150_000 " and non-ASCII digits; and a
    # few of them: a 400-digit number is no time, and overflows the float it is compared as.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Unauthorized(f"{header} must be unix seconds", code="bad_timestamp")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > tolerance_seconds:
        raise Unauthorized(
            f"{header} is {int(skew)} s from server time; tolerance is {tolerance_seconds} s",
            code="stale_timestamp",
        )


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key Standard Webhooks derives from a secret: the base64 decoding of the part
    after `whsec_`. CT's secrets are `whsec_` + 64 hex digits, which decode to 48 bytes."""
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)


def verify_standard_webhook(
    body: bytes,
    webhook: WebhookHeaders,
    secrets: list[str],
    now: datetime,
    tolerance_seconds: int,
) -> None:
    """401 unless one `v1,<base64>` entry of `webhook-signature` is the HMAC-SHA256 of
    `"{webhook-id}.{webhook-timestamp}.{body}"` under one of `secrets`."""
    msg_id, timestamp = webhook.msg_id, webhook.timestamp
    if not msg_id or len(msg_id) > WEBHOOK_ID_MAX or not msg_id.isascii():
        raise Unauthorized(
            f"webhook-signature needs a webhook-id header (1 to {WEBHOOK_ID_MAX} ASCII characters)",
            code="bad_signature",
        )
    if timestamp is None:
        raise Unauthorized(
            "webhook-signature needs a webhook-timestamp header", code="bad_timestamp"
        )
    check_timestamp(timestamp, now, tolerance_seconds, "webhook-timestamp")
    offered = _v1_signatures(webhook.signature)
    if not offered:
        raise Unauthorized("webhook-signature has no `v1,<base64>` entry", code="bad_signature")
    message = f"{msg_id}.{timestamp}.".encode("ascii") + body
    for secret in secrets:
        try:
            key = standard_webhooks_key(secret)
        except (binascii.Error, ValueError):
            continue
        expected = hmac.new(key, message, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise Unauthorized("webhook-signature does not match the body", code="bad_signature")


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1` entries of a `webhook-signature` header; other versions and
    malformed entries are skipped (a sender may list signatures CT cannot check)."""
    found: list[bytes] = []
    for entry in header.split()[:WEBHOOK_SIGNATURES_MAX]:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
