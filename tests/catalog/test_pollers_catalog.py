"""The catalogue's `pollers` section: shapes, cross-references, and the harmless defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from control_tower.catalog import CatalogError, load_default_catalog
from control_tower.catalog.loader import parse_catalog
from control_tower.catalog.pollers import GithubActionsPoller, HttpPoller, protected_branches
from control_tower.kit.clock import FrozenClock
from control_tower.pollers.service import find_poller, run_poller
from control_tower.scheduler import slot_for
from tests.pollers.fakes import catalog_data, github_poller, http_poller, poller_state_row


def problems(pollers: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(yaml.safe_dump(catalog_data(pollers)), "(test)")
    return [str(p) for p in caught.value.problems]


def test_default_catalogue_declares_both_kinds() -> None:
    catalog = load_default_catalog()
    own = find_poller(catalog, "ct-self")
    assert isinstance(own, HttpPoller)
    assert own.url == "http://127.0.0.1:8080/healthz"
    assert own.system == "ct"
    gh = find_poller(catalog, "github-ci")
    assert isinstance(gh, GithubActionsPoller)
    assert gh.api_url == "https://api.github.com"
    assert gh.branches == ["main"]
    assert catalog.event_type("system.check.failed") is not None


def test_default_github_poller_does_not_fire_without_a_token(
    engine: Engine, clock: FrozenClock
) -> None:
    catalog = load_default_catalog()
    poller = find_poller(catalog, "github-ci")
    slot = slot_for(clock.now(), poller.interval_seconds)
    outcome = run_poller(engine, catalog, poller, slot=slot, clock=clock, env={})
    assert outcome.status == "skipped"
    assert outcome.detail == "skipped: environment variable CT_GITHUB_TOKEN is not set"
    saved = poller_state_row(engine, "github-ci")
    assert saved is not None
    assert saved.status == "skipped"


def test_a_poller_of_an_unknown_system_is_a_problem() -> None:
    found = problems([http_poller("http://127.0.0.1:1/", system="nowhere")])
    assert any("pollers[0].system" in p and "unknown system 'nowhere'" in p for p in found)


def test_duplicate_poller_names_are_a_problem() -> None:
    found = problems([http_poller("http://127.0.0.1:1/"), http_poller("http://127.0.0.1:2/")])
    assert any("pollers[1].name" in p and "duplicate" in p for p in found)


@pytest.mark.parametrize(
    ("poller", "message"),
    [
        (http_poller("ftp://example/"), "http:// or https://"),
        (http_poller("http://127.0.0.1/", json_field="status"), "json_field needs"),
        (http_poller("http://127.0.0.1/", expected_value="ok"), "expected_value needs"),
        (http_poller("http://127.0.0.1/", interval_seconds=1), "greater than or equal to 5"),
        (github_poller("http://127.0.0.1:1", repos=["not-a-repo"]), "should match pattern"),
        (github_poller("http://127.0.0.1:1", repos=[]), "at least 1 item"),
        ({"name": "x", "kind": "smoke-signal", "system": "ci"}, "does not match any of"),
    ],
)
def test_bad_pollers_are_refused(poller: dict[str, Any], message: str) -> None:
    assert any(message in p for p in problems([poller]))


def test_protected_branches_come_from_the_github_pollers() -> None:
    catalog = load_default_catalog()
    assert protected_branches(catalog.pollers, "Swan-Recruitment/Backend") == {"main"}
    assert protected_branches([], "any/repo") == {"main"}
    custom = parse_catalog(
        yaml.safe_dump(catalog_data([github_poller("http://127.0.0.1:1")])), "(test)"
    )
    assert protected_branches(custom.pollers, "swan/backend") == {"main", "release"}
