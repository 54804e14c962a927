"""The dashboards spec holds together: every panel names a registered query and, for Grafana,
only metrics CT's /metrics exposes; the docs page and the Grafana export come from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_tower.auth.roles import Role
from control_tower.cli.main import app as cli_app
from control_tower.dashboards.grafana import grafana_dashboard
from control_tower.dashboards.queries import QUERIES
from control_tower.dashboards.spec import Spec, load_spec, parse_spec, spec_markdown
from control_tower.docs_export import DASHBOARDS_SPEC_PATH
from control_tower.observability.metrics import Metrics
from tests.helpers import Staff

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bct_[a-z0-9_]+")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("_sum", "_count")}


def exposed_names(exposition: str) -> set[str]:
    """Every sample name an exposition can hold, from its `# TYPE` lines (a labelled metric
    with no sample yet still has its TYPE line; a counter's is already `…_total`)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        names |= {name, *(name + suffix for suffix in SUFFIXES.get(kind, ()))}
    return names


def problems(spec: Spec, exposed: set[str]) -> list[str]:
    found = []
    for dashboard, panel in spec.panels():
        where = f"{dashboard.id}.{panel.id}"
        if panel.query not in QUERIES:
            found.append(f"{where}: unknown query {panel.query!r}")
        for metric in METRIC.findall(panel.promql or ""):
            if metric not in exposed:
                found.append(f"{where}: /metrics has no {metric}")
    return found


@pytest.fixture(scope="module")
def exposition() -> str:
    from prometheus_client import generate_latest

    return generate_latest(Metrics().registry).decode()


def test_every_panel_names_a_query_and_metrics_that_exist(exposition: str) -> None:
    spec = load_spec()
    assert [d.id for d in spec.dashboards] == ["executive", "events", "runs", "finance", "ci",
                                               "exceptions"]  # fmt: skip
    assert problems(spec, exposed_names(exposition)) == []
    kinds = {p.kind for _, p in spec.panels()}
    assert kinds == {"status_grid", "stat", "table", "time_series", "bar"}


def test_the_check_catches_an_unknown_query_or_metric(exposition: str) -> None:
    text = (ROOT / "src/control_tower/dashboards/spec.yaml").read_text()
    bad = text.replace("query: health.overall", "query: health.nope").replace(
        "promql: max(ct_system_status)", "promql: max(ct_no_such_metric)"
    )
    found = problems(parse_spec(bad), exposed_names(exposition))
    assert found == ["executive.overall: unknown query 'health.nope'",
                     "executive.overall: /metrics has no ct_no_such_metric"]  # fmt: skip


def test_metrics_endpoint_exposes_the_panels_metrics(client: TestClient, staff: Staff) -> None:
    answer = client.get("/metrics", headers=staff.headers(Role.viewer))
    assert answer.status_code == 200
    assert problems(load_spec(), exposed_names(answer.text)) == []
    assert 'ct_system_status{system="backend"}' in answer.text  # set from the health query


def test_a_bad_window_or_kind_is_refused() -> None:
    text = (ROOT / "src/control_tower/dashboards/spec.yaml").read_text()
    with pytest.raises(ValueError, match="not a window"):
        parse_spec(text.replace("window: 7d", "window: a week", 1))
    with pytest.raises(ValueError, match="kind"):
        parse_spec(text.replace("kind: stat", "kind: pie", 1))


def test_the_committed_spec_page_is_generated_from_the_spec() -> None:
    committed = (ROOT / DASHBOARDS_SPEC_PATH).read_text(encoding="utf-8")
    assert committed == spec_markdown(load_spec()), f"regenerate {DASHBOARDS_SPEC_PATH}: ct docs"


def test_grafana_export_writes_a_dashboard_per_spec_dashboard(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["dashboards", "export", "--grafana", str(tmp_path)])
    assert result.exit_code == 0, result.output
    spec = load_spec()
    expected = sorted(f"{d.id}.json" for d in spec.dashboards)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    for dashboard in spec.dashboards:
        model = json.loads((tmp_path / f"{dashboard.id}.json").read_text())
        assert model == grafana_dashboard(dashboard, "http://127.0.0.1:8080")
        assert model["uid"] == f"ct-{dashboard.id}"
        for panel, body in zip(dashboard.panels, model["panels"], strict=True):
            if panel.promql:
                assert body["targets"][0]["expr"] == panel.promql
                assert body["datasource"]["uid"] == "${datasource}"
            else:
                assert body["type"] == "text"
                assert dashboard.path in body["options"]["content"]
    status = json.loads((tmp_path / "executive.json").read_text())["panels"][1]
    mapped = status["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert [mapped[str(n)]["text"] for n in range(4)] == ["GREEN", "AMBER", "RED", "UNKNOWN"]
