"""`ct alerts list|ack|silence|unsilence|silences` on the test store, audited as actor "cli"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from control_tower.cli.main import app as cli
from control_tower.models import audit_log
from control_tower.routing.router import Router
from control_tower.settings import Settings
from tests.alerts.helpers import fn_error
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Emit, cli_env


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli, ["alerts", *args])
    assert result.exit_code == code, result.output
    return result.output


def as_json(runner: CliRunner, *args: str) -> Any:
    return json.loads(run(runner, *args, "--json"))


def test_the_alerts_commands(
    settings: Settings, tmp_path: Path, engine: Engine, emit: Emit, router: Router
) -> None:
    runner = CliRunner(env=cli_env(settings.resolved_database_url(), tmp_path, TEST_MASTER_KEY))
    for _ in range(4):
        fn_error(emit)
    router.drain()
    [alert] = as_json(runner, "list", "--state", "firing")
    assert alert["rule"] == "backend-fn-errors"
    assert "backend-fn-errors" in run(runner, "list")

    out = run(runner, "silence", "--rule", "backend-fn-errors", "--system", "backend",
              "--for", "2h", "--comment", "deploying")  # fmt: skip
    assert out.startswith("silence 1 until ")
    [silence] = as_json(runner, "silences")
    assert (silence["rule"], silence["system"], silence["state"]) == (
        "backend-fn-errors",
        "backend",
        "active",
    )
    assert as_json(runner, "list")[0]["silenced_by"] == [1]
    assert run(runner, "unsilence", "1") == "silence 1 ended\n"
    assert as_json(runner, "silences") == []
    assert [s["state"] for s in as_json(runner, "silences", "--all")] == ["deleted"]
    assert "already" in run(runner, "unsilence", "1", code=1)

    assert "acknowledged alert" in run(runner, "ack", str(alert["id"]), "--comment", "mine")
    assert "was acknowledged by cli" in run(runner, "ack", str(alert["id"]), code=1)
    assert [a["state"] for a in as_json(runner, "list", "--state", "acknowledged")] == [
        "acknowledged"
    ]
    assert "invalid silence" in run(
        runner, "silence", "--rule", "backend-fn-errors", "--for", "soon", "--comment", "x",
        code=1,
    )  # fmt: skip
    assert "no alert rule" in run(
        runner, "silence", "--rule", "nope", "--for", "1h", "--comment", "x", code=1
    )
    with engine.connect() as conn:
        audited = [(r.actor, r.action) for r in conn.execute(select(audit_log))]
    assert [a for a in audited if a[1].startswith(("alert.", "silence."))] == [
        ("cli", "silence.created"),
        ("cli", "silence.deleted"),
        ("cli", "alert.acknowledged"),
    ]
