"""`ct poll list` and `ct poll run NAME` on both stores, against a real local health server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from control_tower.cli.main import app
from tests.pollers.fakes import (
    HealthState,
    catalog_data,
    github_poller,
    http_poller,
    stored_events,
)


def _json(output: str) -> Any:
    """The JSON document a command printed (after any log lines)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "["))
    return json.loads("\n".join(lines[start:]))


def test_poll_list_and_run(
    database_url: str, tmp_path: Path, engine: Engine, health: tuple[HealthState, str]
) -> None:
    state, url = health
    path = tmp_path / "catalog.yaml"
    pollers = [
        http_poller(f"{url}/healthz"),
        github_poller("http://127.0.0.1:9", token_env="CT_TEST_TOKEN_THAT_IS_NOT_SET"),
    ]
    path.write_text(yaml.safe_dump(catalog_data(pollers)))
    env = {
        "CT_DATABASE_URL": database_url,
        "CT_CATALOG": str(path),
        "CT_DATA_DIR": str(tmp_path / "data"),
        "CT_SECRET_KEY": "cli-test-key",
        "CT_TEST_TOKEN_THAT_IS_NOT_SET": None,
    }
    runner = CliRunner()

    listed = runner.invoke(app, ["poll", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "backend-health" in listed.output
    assert "never run" in listed.output

    ran = runner.invoke(app, ["poll", "run", "backend-health"], env=env)
    assert ran.exit_code == 0, ran.output
    outcome = _json(ran.output)
    assert outcome["status"] == "ok"
    [beat] = stored_events(engine)
    assert beat.event_id in outcome["new_event_ids"]
    assert state.hits == 1

    skipped = runner.invoke(app, ["poll", "run", "github-ci"], env=env)
    assert skipped.exit_code == 0, skipped.output
    assert _json(skipped.output)["status"] == "skipped"

    state.status = 500
    failed = runner.invoke(app, ["poll", "run", "backend-health"], env=env)
    assert failed.exit_code == 1
    assert _json(failed.output)["detail"] == "status 500, expected 200"

    as_json = runner.invoke(app, ["poll", "list", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    rows = {row["name"]: row for row in _json(as_json.output)}
    assert rows["backend-health"]["status"] == "failed"
    assert rows["backend-health"]["last_success_at"] is not None
    assert rows["github-ci"]["status"] == "skipped"

    unknown = runner.invoke(app, ["poll", "run", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "no poller 'nope'" in unknown.output
