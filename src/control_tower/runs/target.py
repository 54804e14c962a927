"""The call a run makes to its target: URL, headers, body, signature, and the one HTTP client.

Signing (docs/triggers.md): each target system has its own secret, derived from CT's master key
(`derive_secret(master_key, "trigger-target:<system>")`, printed by `ct runs target-secret`).
`X-CT-Signature: sha256=<hex HMAC-SHA256(secret, "<X-CT-Timestamp>.<raw body>")>`; a target
recomputes it, compares in constant time and refuses stale timestamps. `Idempotency-Key` is the
run_id: the same run is applied once however often it is delivered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from control_tower.catalog.triggers import Trigger
from control_tower.kit.http_client import build_http_client
from control_tower.kit.signing import derive_secret, sign

USER_AGENT = "control-tower-worker/1"
SIGNATURE_HEADER = "X-CT-Signature"
TIMESTAMP_HEADER = "X-CT-Timestamp"


def target_secret(master_key: bytes, system: str) -> str:
    return derive_secret(master_key, f"trigger-target:{system}")


def target_url(trigger: Trigger, base_url_override: str | None) -> str:
    """The catalogue URL, with scheme, host and port replaced by the override when set."""
    if not base_url_override:
        return trigger.target.url
    base = urlsplit(base_url_override.rstrip("/"))
    url = urlsplit(trigger.target.url)
    path = base.path + url.path
    return urlunsplit((base.scheme, base.netloc, path, url.query, ""))


@dataclass(frozen=True)
class TargetRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def json_body(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


def build_request(
    trigger: Trigger, run_id: str, inputs: dict[str, Any], attempt: int, base_url: str | None
) -> TargetRequest:
    """Everything but the signature, which `sign_request` adds at send time."""
    body = {
        "run_id": run_id,
        "trigger": trigger.name,
        "action": trigger.target.action,
        "inputs": inputs,
        "attempt": attempt,
    }
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": run_id,
        "X-CT-Run-Id": run_id,
        "X-CT-Trigger": trigger.name,
    }
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return TargetRequest(trigger.target.method, target_url(trigger, base_url), headers, raw)


def sign_request(
    request: TargetRequest, secret: str, unix_time: int | None = None
) -> TargetRequest:
    stamp = str(int(time.time()) if unix_time is None else unix_time)
    headers = dict(request.headers)
    headers[TIMESTAMP_HEADER] = stamp
    headers[SIGNATURE_HEADER] = sign(secret, request.body, stamp)
    return TargetRequest(request.method, request.url, headers, request.body)


def build_client() -> httpx.Client:
    """The client for calls to targets: no redirects, no proxies from the environment (a call
    carries its signature), and each call's own timeout (the trigger's) within these bounds."""
    return build_http_client(30.0, trust_env=False)  # each call passes its trigger's timeout
