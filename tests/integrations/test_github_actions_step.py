"""The CI producer: the workflow step in docs/integrations/github-actions.md, run as written
(its `run:` script, in bash, with GitHub's default variables) against a real `ct serve`, sends
`ci.workflow.failed` through the Python client: one event per run attempt."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.servers import bearer, create_token, run_server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "integrations" / "github-actions.md"


def documented_step(name: str) -> dict[str, Any]:
    """The step called `name` in the page's workflow (its one YAML block)."""
    [block] = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    workflow = yaml.safe_load(block)
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    [step] = [step for step in steps if step.get("name") == name]
    return dict(step)


def github_env(ct_url: str, token: str, secret: str, attempt: int = 1) -> dict[str, str]:
    """What a runner's environment holds for the step: GitHub's defaults, and `env:` with
    the repository's variable and secrets filled in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CT_", "GITHUB_"))}
    env.update(
        # The client's console script lives beside the interpreter running the tests.
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_REPOSITORY="swan-recruitment/backend",
        GITHUB_RUN_ID="9876543210",
        GITHUB_RUN_ATTEMPT=str(attempt),
        GITHUB_JOB="test",
        GITHUB_REF_NAME="main",
    )
    filled = {"vars.CT_URL": ct_url, "secrets.CT_TOKEN": token, "secrets.CT_SECRET": secret}
    for name, value in documented_step("Tell Control Tower")["env"].items():
        expression = re.fullmatch(r"\$\{\{\s*(\S+)\s*\}\}", value)
        assert expression is not None, f"{name}: {value}"
        env[name] = filled[expression.group(1)]
    return env


def run_step(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = documented_step("Tell Control Tower")["run"]
    # GitHub runs a `run:` script with `bash -e {0}`.
    return subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def test_the_documented_step_reports_a_failed_job(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    step = documented_step("Tell Control Tower")
    assert step["if"] == "failure() && github.ref == 'refs/heads/main'"
    with run_server(server_env, tmp_path / "logs") as server:
        producer = create_token(server_env, "ci-github", "producer", "--source", "github")
        reader = create_token(server_env, "reader", "maintainer")
        env = github_env(server.base_url, producer["token"], producer["hmac_secret"])

        done = run_step(env)
        assert done.returncode == 0, done.stderr
        sent = json.loads(done.stdout.strip().splitlines()[-1])
        event_id = "ci:swan-recruitment:backend:9876543210:1:test"
        assert sent == {
            "event_id": event_id, "status_code": 202, "duplicate": False, "spooled": False,
        }  # fmt: skip
        # The secrets are not in what the step prints.
        assert producer["token"] not in done.stdout + done.stderr
        assert producer["hmac_secret"] not in done.stdout + done.stderr

        # Re-running the workflow is a new attempt, so a new event; the first is not touched.
        rerun = run_step(github_env(server.base_url, producer["token"], producer["hmac_secret"], 2))
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout.strip().splitlines()[-1])["event_id"].endswith(":2:test")

        with server.client() as client:
            stored = client.get(f"/events/{event_id}", headers=bearer(reader))
            assert stored.status_code == 200, stored.text
            event = stored.json()
            listed = client.get("/events", params={"type": "ci.workflow.failed"},
                                headers=bearer(reader))  # fmt: skip
        assert event["type"] == "ci.workflow.failed"
        assert event["source"] == "github"
        assert event["payload"] == {
            "repo": "swan-recruitment/backend",
            "run_id": 9876543210,
            "job": "test",
            "url": "https://github.com/swan-recruitment/backend/actions/runs/9876543210",
            "branch": "main",
            "conclusion": "failure",
        }
        assert listed.status_code == 200
        items = listed.json()
        rows = items["items"] if isinstance(items, dict) else items
        assert sorted(r["event_id"] for r in rows) == [event_id, event_id.replace(":1:", ":2:")]


def test_a_wrong_secret_fails_the_step(server_env: dict[str, str], tmp_path: Path) -> None:
    with run_server(server_env, tmp_path / "logs") as server:
        producer = create_token(server_env, "ci-github", "producer", "--source", "github")
        env = github_env(server.base_url, producer["token"], "whsec_" + "0" * 64)
        done = run_step(env)
        assert done.returncode != 0
        assert "whsec_" not in done.stderr
