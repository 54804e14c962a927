"""Google's public keys for ID tokens, fetched from a configurable URL and cached for the
response's `Cache-Control: max-age`.

Google serves them two ways, and both are read: a map of key id → PEM certificate (Firebase's
securetoken URL) and a JWK set (`{"keys": [...]}`, the OAuth2 URL). A key id that is not
in a fresh set triggers one early refetch (Google may have rotated), at most once a minute, so
tokens naming made-up key ids cannot make CT fetch on every request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from control_tower.kit.errors import Unauthorized, Unavailable
from control_tower.kit.http_client import build_http_client

DEFAULT_MAX_AGE_SECONDS = 300.0  # when the answer has no max-age
REFETCH_UNKNOWN_KID_AFTER_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 5.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Fetched:
    """A key document: its body and the Cache-Control header it came with."""

    body: bytes
    cache_control: str


Fetcher = Callable[[str], Fetched]


def fetch_over_http(url: str) -> Fetched:
    with build_http_client(FETCH_TIMEOUT_SECONDS) as client:
        answer = client.get(url)
        answer.raise_for_status()
        return Fetched(answer.content, answer.headers.get("cache-control", ""))


def max_age_seconds(cache_control: str) -> float:
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else DEFAULT_MAX_AGE_SECONDS


def parse_keys(body: bytes) -> dict[str, RSAPublicKey]:
    """Key id → RSA public key, from an x509 map or a JWK set; other key types are skipped."""
    document: Any = orjson.loads(body)
    keys: dict[str, RSAPublicKey] = {}
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        for jwk in document["keys"]:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            try:
                key = PyJWK(jwk).key
            except PyJWKError:
                continue
            if isinstance(key, RSAPublicKey):
                keys[jwk["kid"]] = key
    elif isinstance(document, dict):
        for kid, pem in document.items():
            if not isinstance(pem, str):
                continue
            try:
                key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
            except ValueError:
                continue
            if isinstance(key, RSAPublicKey):
                keys[str(kid)] = key
    return keys


class GoogleKeySet:
    """The keys at one URL, refreshed when their max-age has passed (thread-safe)."""

    def __init__(self, url: str, fetch: Fetcher = fetch_over_http) -> None:
        self.url = url
        self._fetch = fetch
        self._keys: dict[str, RSAPublicKey] = {}
        self._fresh_until = 0.0
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> RSAPublicKey:
        """The key with id `kid`; 401 when Google has no such key, 503 when the keys cannot
        be had at all."""
        with self._lock:
            now = time.monotonic()
            stale = now >= self._fresh_until
            unknown = kid not in self._keys and (
                self._fetched_at is None
                or now - self._fetched_at >= REFETCH_UNKNOWN_KID_AFTER_SECONDS
            )
            if stale or unknown:
                self._refresh(now)
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("the ID token's key id is not among Google's current keys")
        return key

    def _refresh(self, now: float) -> None:
        self.fetches += 1
        self._fetched_at = now
        try:
            fetched = self._fetch(self.url)
            keys = parse_keys(fetched.body)
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            if self._keys:
                # Keep using the last keys for a while rather than refuse every sign-in.
                self._fresh_until = now + REFETCH_UNKNOWN_KID_AFTER_SECONDS
                return
            raise Unavailable(
                f"cannot fetch the ID-token keys from {self.url}: {type(exc).__name__}",
                code="identity_keys_unavailable",
            ) from exc
        self._keys = keys
        self._fresh_until = now + max_age_seconds(fetched.cache_control)
