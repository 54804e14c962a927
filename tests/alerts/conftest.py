"""Alert tests run on the default catalogue, or on it with the rules (and channels) a test
gives by parametrizing `rules` (and `channels`): `catalog`, and with it `emit` and `router`,
follow."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from control_tower.catalog import Catalog
from control_tower.catalog.loader import default_catalog_text, parse_catalog


@pytest.fixture
def rules() -> list[dict[str, Any]] | None:
    """None: the default catalogue's rules."""
    return None


@pytest.fixture
def channels() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def catalog(rules: list[dict[str, Any]] | None, channels: list[dict[str, Any]]) -> Catalog:
    return catalog_with(rules, channels)


def catalog_with(
    rules: list[dict[str, Any]] | None, channels: list[dict[str, Any]] | None = None
) -> Catalog:
    """The default catalogue with these rules and channels, checked as `ct catalog validate`
    checks a file."""
    data = yaml.safe_load(default_catalog_text())
    if rules is not None:
        data["alert_rules"] = rules
    if channels:
        data["channels"] = channels
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), "(test)")
