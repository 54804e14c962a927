"""The YAML catalogue: the default loads, problems are all reported, CT_CATALOG swaps it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_tower.app import create_app
from control_tower.catalog import CatalogError, load_catalog, load_default_catalog
from control_tower.catalog.loader import default_catalog_text
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Producer, cli_env, make_event

BROKEN = """\
version: 1
sources:
  - id: backend
  - id: finance
  - id: backend
systems:
  - id: api
    name: API
    sources: [backend]
  - id: billing
    name: Billing
    sources: [nowhere]
event_types:
  - type: Bad-Type
    sources: [backend]
  - type: finance.invoice.generated
    payload_schema:
      type: object
      properties:
        total: {type: 12}
  - type: backend.fn.error
    sources: finance
  - type: finance.invoice.generated
    sources: [finance]
"""

# (path, line, words in the message) for every problem in BROKEN.
EXPECTED = [
    ("sources[2].id", 5, "duplicate id 'backend'"),
    ("systems[1].sources[0]", 12, "unknown source 'nowhere'"),
    ("event_types[0].type", 14, "should match pattern"),
    ("event_types[1].payload_schema", 17, "not a valid JSON Schema"),
    ("event_types[2].sources", 22, "valid list"),
    ("event_types[3].type", 23, "duplicate type 'finance.invoice.generated'"),
]

CUSTOM = """\
version: 1
organisation: Elsewhere Ltd
sources:
  - id: backend
event_types:
  - type: backend.job.finished
    sources: [backend]
    payload_schema:
      type: object
      required: [job_id]
      properties:
        job_id: {type: string}
"""


def test_default_catalogue_loads_with_swans_types() -> None:
    catalog = load_default_catalog()
    assert catalog.organisation == "Swan Recruitment"
    assert {"portal", "backend", "finance", "desktop", "github", "website", "ct"} == (
        catalog.source_ids()
    )
    for name in ("backend.fn.error", "finance.invoice.generated", "system.heartbeat"):
        assert catalog.event_type(name) is not None


def test_every_problem_is_reported_with_its_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    found = {(p.path, p.line): p.message for p in caught.value.problems}
    assert len(caught.value.problems) == len(EXPECTED), caught.value
    for where, line, words in EXPECTED:
        assert (where, line) in found, f"{where} (line {line}) missing from {found}"
        assert words in found[(where, line)]


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    text = default_catalog_text().replace(
        "    sources: [finance]\n",
        "    sources: [finance]\n    sources: [backend]\n",
        1,
    )
    text += "organisation: Someone Else\n"
    path = tmp_path / "dupes.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    found = [(p.path, p.message) for p in caught.value.problems]
    assert len(found) == 2, found
    assert found[0][0] == "systems[2].sources"
    assert "duplicate key 'sources'" in found[0][1]
    assert found[1] == (
        "organisation",
        "duplicate key 'organisation': only the last one would count",
    )
    lines = text.splitlines()
    for problem in caught.value.problems:
        assert problem.line is not None
        key = problem.path.rsplit(".", 1)[-1]
        assert lines[problem.line - 1].strip().startswith(key + ":")


def test_ct_catalog_validate_exits_0_on_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "swan.yaml"
    path.write_text(default_catalog_text())
    result = CliRunner().invoke(cli, ["catalog", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert ": ok (" in result.output


def test_ct_catalog_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = CliRunner().invoke(cli, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    for where, line, _ in EXPECTED:
        assert f"{where} (line {line})" in result.output
    assert f"{len(EXPECTED)} problem(s)" in result.output


def test_ct_catalog_validate_reports_bad_yaml_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  - id: backend\n  bad: [unclosed\n")
    result = CliRunner().invoke(cli, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    assert "not valid YAML" in result.output
    assert "(line " in result.output


def test_ct_catalog_points_the_server_at_another_file(
    settings: Settings, producer: Producer, tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM)
    app = create_app(settings.model_copy(update={"catalog": path}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        custom = make_event("backend.job.finished", payload={"job_id": "job-1"})
        body, headers = producer.signed(custom)
        accepted = client.post("/events", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text

        default_only = make_event("backend.fn.error")
        body, headers = producer.signed(default_only)
        refused = client.post("/events", content=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "unknown_event_type"


def test_ct_catalog_from_the_environment_is_the_one_the_cli_uses(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM.replace("  - id: backend\n", "  - id: backend\n  - id: payroll\n", 1))
    env = cli_env(database_url, tmp_path / "data", TEST_MASTER_KEY)
    args = ["token", "create", "--name", "payroll-bot", "--role", "producer", "--source", "payroll"]
    refused = CliRunner().invoke(cli, args, env=env)
    assert refused.exit_code == 1
    assert "unknown source 'payroll'" in refused.output
    accepted = CliRunner().invoke(cli, args, env={**env, "CT_CATALOG": str(path)})
    assert accepted.exit_code == 0, accepted.output


def test_ct_catalog_validate_reports_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["catalog", "validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "absent.yaml" in result.output
    assert "1 problem(s)" in result.output


def test_identity_sources_must_be_declared(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    identity = (
        "identity:\n"
        "  service_accounts:\n"
        "    - {email: bot@swan.iam.gserviceaccount.com, source: payroll, token: bot}\n"
        "  stripe: {source: billing}\n"
    )
    path.write_text(default_catalog_text() + "\n" + identity)
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    message = str(refused.value)
    assert "identity.service_accounts[0].source" in message
    assert "unknown source 'payroll'" in message
    assert "identity.stripe.source" in message
    assert "unknown source 'billing'" in message
