"""`ct serve` delivers: a test message queued with `ct notifications test` reaches the channel;
the delivery loop runs only when CT_NOTIFY_ENABLED and the catalogue has channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_tower.background import background_loops
from control_tower.catalog.loader import default_catalog_text
from control_tower.db import build_engine
from control_tower.health.objectives import EXTRA_OBJECTIVES
from control_tower.kit.clock import FrozenClock
from control_tower.notify.worker import DeliveryWorker
from control_tower.settings import Settings
from tests.helpers import wait_for
from tests.notify.helpers import catalog_with
from tests.notify.receivers import HttpReceiver
from tests.notify.test_api_cli import CHANNELS, SLACK
from tests.servers import ct_cli, run_server


def catalog_file(tmp_path: Path) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(default_catalog_text() + CHANNELS)
    return str(path)


def test_ct_serve_delivers_a_queued_message(
    server_env: dict[str, str], tmp_path: Path, receiver: HttpReceiver
) -> None:
    env = {**server_env, "CT_CATALOG": catalog_file(tmp_path), "CT_SLACK_URL": receiver.url}
    with run_server(env, tmp_path / "logs"):
        ct_cli(env, "notifications", "test", "ops-slack")
        [request] = wait_for(lambda: receiver.received() or None, timeout=30)
    assert request.json()["text"] == "Control Tower test notification"
    assert '"status": "sent"' in ct_cli(env, "notifications", "list", "--json")


@pytest.mark.parametrize(
    ("enabled", "channels", "delivers"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_background_loops_deliver_only_when_enabled_with_channels(
    tmp_path: Path, clock: FrozenClock, enabled: bool, channels: bool, delivers: bool
) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'unused.sqlite3'}")  # built, never used
    settings = Settings(notify_enabled=enabled, worker_enabled=False, secret_key="k")
    catalog = catalog_with(SLACK) if channels else catalog_with()
    loops = background_loops(settings, engine, catalog, clock, b"k")
    workers = [getattr(loop, "__self__", None) for loop in loops]
    assert any(isinstance(w, DeliveryWorker) for w in workers) is delivers
    for w in workers:
        if isinstance(w, DeliveryWorker):
            w.client.close()
    # Every process that runs the loops evaluates health with delivery's objective.
    assert "notify" in EXTRA_OBJECTIVES.names()
    engine.dispose()
