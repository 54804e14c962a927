"""`ct demo`: demo tokens, sample events, and a printed curl that really is signed right."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_tower.cli.main import app as cli_app
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY


def test_demo_prints_working_tokens_and_curl(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    env = {
        "CT_DATABASE_URL": settings.resolved_database_url(),
        "CT_DATA_DIR": str(tmp_path),
        "CT_SECRET_KEY": TEST_MASTER_KEY,
    }
    runner = CliRunner(env=env)
    first = runner.invoke(cli_app, ["demo", "--base-url", "http://testserver"])
    assert first.exit_code == 0, first.output
    assert "Stored 12 sample events" in first.output
    curl = next(line for line in first.output.splitlines() if "curl -sS -X POST" in line)
    parts = shlex.split(curl)
    headers = dict(parts[i + 1].split(": ", 1) for i, part in enumerate(parts) if part == "-H")
    body = parts[parts.index("--data-binary") + 1]
    posted = client.post("/events", content=body.encode(), headers=headers)
    assert posted.status_code == 202, posted.text
    viewer = re.search(r"demo-viewer\s+viewer\s+(\S+)", first.output)
    assert viewer is not None
    old_token = viewer.group(1)
    assert (
        client.get("/health", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    )
    second = runner.invoke(cli_app, ["demo", "--no-seed"])
    assert second.exit_code == 0, second.output
    assert "Stored" not in second.output
    # Tokens rotate on every run: the old ones stop working.
    assert (
        client.get("/health", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    )
