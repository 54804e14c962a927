"""What CLI commands share: settings, an engine on the configured store, and the clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer
from sqlalchemy import Engine

from control_tower.catalog import CatalogError
from control_tower.db import build_engine
from control_tower.kit.errors import CTError
from control_tower.migrate import upgrade
from control_tower.settings import Settings

CLI_ACTOR = "cli"


def settings() -> Settings:
    return Settings()


@contextmanager
def engine(migrate: bool = True) -> Iterator[Engine]:
    s = settings()
    eng = build_engine(s.resolved_database_url(), sqlite_synchronous=s.sqlite_synchronous)
    try:
        if migrate:
            upgrade(eng)
        yield eng
    finally:
        eng.dispose()


def now() -> datetime:
    return datetime.now(UTC)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


@contextmanager
def cli_errors() -> Iterator[None]:
    """Domain errors become one line on stderr and exit code 1, not a traceback."""
    try:
        yield
    except CTError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except CatalogError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
