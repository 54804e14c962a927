"""The docs are tested too (STYLE §11): generated files must not drift from the code, and every
setting, CLI command and option, and catalogue event type must be documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from openapi_spec_validator import validate

from control_tower.catalog import load_default_catalog
from control_tower.cli.main import app as cli_app
from control_tower.docs_export import OPENAPI_PATH, SCHEMAS_DIR, json_schemas, openapi_yaml
from control_tower.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate it with `ct docs` (or `make docs`) and commit the result"


def doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_committed_openapi_matches_the_app_and_is_valid() -> None:
    committed = (ROOT / OPENAPI_PATH).read_text(encoding="utf-8")
    assert committed == openapi_yaml(), f"{OPENAPI_PATH} is out of date: {REGENERATE}"
    validate(yaml.safe_load(committed))


def test_committed_json_schemas_match_the_models() -> None:
    expected = json_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / SCHEMAS_DIR).glob("*.json")}
    assert sorted(committed) == sorted(expected), f"{SCHEMAS_DIR} has other files: {REGENERATE}"
    for name, text in expected.items():
        assert committed[name] == text, f"{SCHEMAS_DIR / name} is out of date: {REGENERATE}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_configuration_md(field: str) -> None:
    assert f"CT_{field.upper()}" in doc("configuration.md")


def cli_commands(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under `ct`, depth first, with its path (e.g. ("ct", "token", "create"))."""
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = command.context_class(command)
        for name in command.list_commands(ctx):
            yield from cli_commands(command.get_command(ctx, name), (*path, name))


COMMANDS = list(cli_commands(typer.main.get_command(cli_app), ("ct",)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_cli_command_and_option_is_in_cli_md(path: tuple[str, ...], command: Any) -> None:
    text = doc("cli.md")
    assert " ".join(path) in text
    for param in command.params:
        for option in param.opts:
            if option.startswith("--") and option != "--help":
                assert option in text, f"{' '.join(path)} {option} is not in docs/cli.md"


def test_there_are_commands_to_check() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"ct serve", "ct token create", "ct docs"} <= names


EVENT_TYPES = load_default_catalog().event_types


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=[t.type for t in EVENT_TYPES])
def test_every_default_event_type_and_payload_field_is_in_catalogue_md(event_type: Any) -> None:
    text = doc("catalogue.md")
    assert f"`{event_type.type}`" in text
    for field in event_type.payload_schema.get("properties", {}):
        assert f"`{field}`" in text, f"{event_type.type}.{field} is not in docs/catalogue.md"
