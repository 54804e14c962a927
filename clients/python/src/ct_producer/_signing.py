"""The `X-CT-Signature` of a body, exactly as docs/ingest.md §3 defines it."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CT-Signature"
TIMESTAMP_HEADER = "X-CT-Timestamp"


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """`sha256=<hex HMAC-SHA256>` of `body` (or of `"{timestamp}.{body}"`), keyed with the
    secret's UTF-8 bytes. Sign the bytes you send, never a re-serialisation of them."""
    message = body if timestamp is None else timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
