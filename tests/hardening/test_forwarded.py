"""X-Forwarded-For is believed only from configured proxies (CT_TRUSTED_PROXIES): a stranger on
127.0.0.1 cannot reset its anonymous rate limit by naming another address. Real `ct serve`."""

from __future__ import annotations

from pathlib import Path

from tests.servers import run_server


def strangers_statuses(client: object, count: int) -> list[int]:
    return [
        client.get(  # type: ignore[attr-defined]
            "/events",
            headers={"Authorization": "Bearer ct_guess", "X-Forwarded-For": f"10.9.0.{n}"},
        ).status_code
        for n in range(count)
    ]


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**server_env, "CT_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "5"}
    with run_server(env, tmp_path) as server, server.client() as client:
        statuses = strangers_statuses(client, 8)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3  # one budget: the connection's own address


def test_forwarded_addresses_from_a_trusted_proxy_are_the_clients(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**server_env, "CT_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "5",
           "CT_TRUSTED_PROXIES": "127.0.0.1"}  # fmt: skip
    with run_server(env, tmp_path) as server, server.client() as client:
        statuses = strangers_statuses(client, 8)
    assert statuses == [401] * 8  # each forwarded address has a budget of its own
