"""`ct trigger`, `ct runs …` (drain included), and the worker inside the app's lifespan."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_tower.app import create_app
from control_tower.auth.roles import Role
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from control_tower.runs.target import target_secret
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Staff
from tests.runs.helpers import show, trigger
from tests.runs.target_server import Target


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI commands may configure logging onto the runner's stdout, closed after invoke."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def runner(cli_env: dict[str, str]) -> CliRunner:
    return CliRunner(env=cli_env)


def test_ct_trigger_runs_list_show_cancel(runner: CliRunner, target: Target) -> None:
    dry = runner.invoke(
        cli, ["trigger", "contract.regenerate", "--input", "contract_id=C-5", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["request"]["url"].startswith(target.url)

    made = runner.invoke(cli, ["trigger", "contract.regenerate", "-i", "contract_id=C-5"])
    assert made.exit_code == 0, made.output
    run_id = json.loads(made.output)["run_id"]
    listed = runner.invoke(cli, ["runs", "list", "--initiator", "cli"])
    assert run_id in listed.output
    noted = runner.invoke(cli, ["runs", "note", run_id, "looked at it"])
    assert noted.exit_code == 0, noted.output
    cancelled = runner.invoke(cli, ["runs", "cancel", run_id])
    assert json.loads(cancelled.output)["status"] == "cancelled"
    shown = json.loads(runner.invoke(cli, ["runs", "show", run_id]).output)
    assert shown["initiator"] == "cli"
    assert [t["to_status"] for t in shown["transitions"]] == ["queued", "cancelled"]
    assert [n["text"] for n in shown["notes"]] == ["looked at it"]
    again = runner.invoke(cli, ["runs", "cancel", run_id])
    assert again.exit_code == 1
    assert "already finished" in again.output


def test_ct_trigger_errors_are_one_line(runner: CliRunner) -> None:
    unknown = runner.invoke(cli, ["trigger", "nope.nope"])
    assert unknown.exit_code == 1
    assert "no trigger" in unknown.output
    bad = runner.invoke(cli, ["trigger", "contract.regenerate", "-i", "contract_idC-1"])
    assert bad.exit_code == 1
    missing = runner.invoke(cli, ["trigger", "contract.regenerate"])
    assert missing.exit_code == 1
    assert "inputs.contract_id" in missing.output


def test_ct_runs_drain_and_trigger_wait(runner: CliRunner, target: Target) -> None:
    made = runner.invoke(cli, ["trigger", "contract.regenerate", "-i", "contract_id=C-9"])
    run_id = json.loads(made.output)["run_id"]
    worked = runner.invoke(cli, ["runs", "drain"])
    assert worked.exit_code == 0, worked.output
    assert target.effects == {run_id: 1}
    # --wait on a run that already finished returns at once with its outcome.
    waited = runner.invoke(
        cli,
        ["trigger", "contract.regenerate", "-i", "contract_id=C-9", "--wait", "--timeout", "5"],
    )
    assert waited.exit_code == 0, waited.output
    assert "success" in waited.output
    secret = runner.invoke(cli, ["runs", "target-secret", "desktop"])
    assert secret.output.strip() == target_secret(TEST_MASTER_KEY.encode(), "desktop")


def test_the_app_runs_the_worker_in_its_lifespan(
    settings: Settings, target: Target, staff: Staff
) -> None:
    live = settings.model_copy(
        update={
            "worker_enabled": True,
            "worker_poll_seconds": 0.05,
            "trigger_target_base_url": target.url,
        }
    )
    clock = FrozenClock(datetime.now(UTC) - timedelta(minutes=1))
    with TestClient(create_app(live, clock=clock)) as api:
        run_id = trigger(api, staff)
        deadline = time.monotonic() + 60
        while show(api, staff, run_id)["status"] != "success" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert show(api, staff, run_id)["status"] == "success"
        assert api.get("/runs", headers=staff.headers(Role.viewer)).status_code == 200
    assert target.effects == {run_id: 1}
