"""A real CT server for the producer clients' tests, and what they use to look into it.

The clients speak HTTP, so one server per test session (per xdist worker), on a SQLite copy of
the migrated template, serves their behaviour tests, each keyed by its own ids or correlation
id; tests of what the store keeps (exactly once after a crash) start their own on each backend
with `server_env`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from ct_producer import Backoff, Producer

from tests.clients.proxy import ScriptedProxy
from tests.conftest import TEST_MASTER_KEY
from tests.servers import CTServer, create_token, ct_env, free_port, listed_events, run_server

# Short waits, so retry tests take a fraction of a second; the client's defaults are longer.
FAST = Backoff(initial=0.05, multiplier=2.0, maximum=5.0)
LIMITS = ("--rate-per-minute", "100000", "--burst", "100000")


@dataclass
class LiveCT:
    server: CTServer
    token: str
    secret: str
    reader: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return self.server.base_url

    def producer(self, url: str | None = None, **options: Any) -> Producer:
        options.setdefault("source", "backend")
        options.setdefault("backoff", FAST)
        return Producer(url or self.url, self.token, self.secret, **options)

    def stored(self, **query: str) -> list[dict[str, Any]]:
        """Every stored event matching the query (GET /events, all pages), newest first."""
        return listed_events(self.url, self.reader, **query)

    def event(self, event_id: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.url}/events/{event_id}", headers=self.reader, timeout=30)
        return answer.json() if answer.status_code == 200 else None


def start_live_ct(env: dict[str, str], log_dir: Path) -> Iterator[LiveCT]:
    issued = create_token(env, "client-tests", "producer", "--source", "backend", *LIMITS)
    reader = create_token(env, "client-tests-reader", "maintainer")
    with run_server(env, log_dir) as server:
        yield LiveCT(
            server,
            issued["token"],
            issued["hmac_secret"],
            {"Authorization": f"Bearer {reader['token']}"},
        )


@pytest.fixture(scope="session")
def ct(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveCT]:
    base = tmp_path_factory.mktemp("ct")
    shutil.copyfile(sqlite_template, base / "ct.sqlite3")
    env = ct_env(f"sqlite:///{base / 'ct.sqlite3'}", base / "data", TEST_MASTER_KEY)
    yield from start_live_ct(env, base)


@pytest.fixture
def proxy(ct: LiveCT) -> Iterator[ScriptedProxy]:
    with ScriptedProxy(ct.url).running() as running:
        yield running


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens: every attempt fails with a refused connection."""
    return f"http://127.0.0.1:{free_port()}"
