"""The one factory for CT's outbound HTTP clients: every call has a timeout and says who it is.

Pollers and the run worker build their clients here, so timeouts, the User-Agent and the
redirect policy live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

USER_AGENT = "control-tower/0.1"


def build_http_client(
    timeout_seconds: float,
    *,
    headers: Mapping[str, str] | None = None,
    connect_timeout_seconds: float | None = None,
    trust_env: bool = True,
) -> httpx.Client:
    """A synchronous client whose every phase (connect, read, write, pool) is bounded (a call
    may pass a timeout of its own). `trust_env=False` ignores proxy settings from the
    environment: for calls that carry a signature or secret to a known internal host."""
    timeout = httpx.Timeout(
        timeout_seconds,
        connect=min(timeout_seconds, connect_timeout_seconds or timeout_seconds),
    )
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    # Redirects are not followed: a check must report what the URL itself answers, and a
    # token must never be carried to another host.
    return httpx.Client(
        timeout=timeout, headers=merged, follow_redirects=False, trust_env=trust_env
    )
