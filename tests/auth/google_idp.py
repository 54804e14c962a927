"""A stand-in for Google's token issuers: RSA keys of the test's own, their public halves served
from a local HTTP server the way Google serves them (an x509 map for Firebase, a JWK set for
service accounts) with a Cache-Control header, and ID tokens minted with them."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

PROJECT = "swan-ct-test"
FIREBASE_ISSUER = f"https://securetoken.google.com/{PROJECT}"
AUDIENCE = "https://ct.swan.test"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class GoogleIdP:
    base_url: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    cache_control: str = "public, max-age=300, must-revalidate"
    fetches: dict[str, int] = field(default_factory=lambda: {"/x509": 0, "/jwks": 0})

    @property
    def x509_url(self) -> str:
        return self.base_url + "/x509"

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/jwks"

    def add_key(self, kid: str) -> None:
        self.keys[kid] = new_key()

    def document(self, path: str) -> dict[str, Any]:
        if path == "/x509":
            return {kid: certificate_pem(key) for kid, key in self.keys.items()}
        jwks = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwks.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": jwks}

    def mint(self, claims: dict[str, Any], kid: str = "k1", **headers: Any) -> str:
        return jwt.encode(
            claims, self.keys[kid], algorithm="RS256", headers={"kid": kid, **headers}
        )

    def firebase(
        self, now: datetime, email: str = "alice@swan.test", kid: str = "k1", **extra: Any
    ) -> str:
        """A Firebase ID token issued `now` (CT's clock) for `email`, valid for an hour."""
        claims: dict[str, Any] = {
            "iss": FIREBASE_ISSUER,
            "aud": PROJECT,
            "sub": "uid-" + email.split("@")[0],
            "auth_time": int(now.timestamp()) - 5,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + 3600,
            "email": email,
            "email_verified": True,
            "firebase": {"sign_in_provider": "google.com"},
        }
        claims.update(extra)
        return self.mint({k: v for k, v in claims.items() if v is not None}, kid)

    def service_account(self, now: datetime, email: str, kid: str = "k1", **extra: Any) -> str:
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "sub": "1170000000000000" + str(len(email)),
            "azp": email,
            "email": email,
            "email_verified": True,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + 3600,
        }
        claims.update(extra)
        return self.mint({k: v for k, v in claims.items() if v is not None}, kid)


def unsigned(claims: dict[str, Any], kid: str = "k1") -> str:
    """An `alg: none` token: a header and claims, no signature."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), ""])


def tampered(token: str, **changes: Any) -> str:
    """The token with its claims changed and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


@contextmanager
def running_idp() -> Iterator[GoogleIdP]:
    idp = GoogleIdP()
    idp.add_key("k1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in idp.fetches:
                self.send_error(404)
                return
            idp.fetches[self.path] += 1
            body = json.dumps(idp.document(self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", idp.cache_control)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
