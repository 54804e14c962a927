"""HMAC-SHA256 signatures over raw bodies, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The `X-CT-Signature` value for a body; with a timestamp it covers `"{ts}.{body}"`."""
    message = body if timestamp is None else timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_matches(secret: str, body: bytes, header: str, timestamp: str | None = None) -> bool:
    expected = sign(secret, body, timestamp)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


def derive_secret(master_key: bytes, purpose: str) -> str:
    """A per-purpose secret derived from CT's master key, so the store never keeps it."""
    return hmac.new(master_key, purpose.encode("utf-8"), hashlib.sha256).hexdigest()
