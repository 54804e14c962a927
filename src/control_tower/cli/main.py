"""`ct`: one command per operator task. `ct --help` lists them.

Each command's module is imported only when that command runs (or `--help` lists it): the
features behind them (the app, alerts, backups, reports…) take over a second to import, which
`ct token create` or `ct audit verify` should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

# Typer 0.29 carries its own copy of click; its group's methods are typed with that copy.
from typer._click import Command, Context
from typer.core import TyperGroup

# name → (module, attribute, is a group of subcommands)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "serve": ("control_tower.cli.serve", "serve", False),
    "demo": ("control_tower.cli.demo", "demo", False),
    "docs": ("control_tower.cli.docs", "export_docs", False),
    "worker": ("control_tower.cli.worker", "worker", False),
    "rebuild": ("control_tower.cli.worker", "rebuild_cmd", False),
    "restore": ("control_tower.cli.backup", "restore", False),
    "digest": ("control_tower.cli.reports", "digest", False),
    "weekly": ("control_tower.cli.reports", "weekly", False),
    "trigger": ("control_tower.cli.runs", "trigger", False),
    "token": ("control_tower.cli.token", "app", True),
    "users": ("control_tower.cli.users", "app", True),
    "db": ("control_tower.cli.db", "app", True),
    "catalog": ("control_tower.cli.catalog", "app", True),
    "audit": ("control_tower.cli.audit", "app", True),
    "dlq": ("control_tower.cli.dlq", "app", True),
    "poll": ("control_tower.cli.poll", "app", True),
    "jobs": ("control_tower.cli.jobs", "app", True),
    "backup": ("control_tower.cli.backup", "app", True),
    "runs": ("control_tower.cli.runs", "app", True),
    "dashboards": ("control_tower.cli.dashboards", "app", True),
    "alerts": ("control_tower.cli.alerts", "app", True),
    "notifications": ("control_tower.cli.notifications", "app", True),
}


def load_command(name: str) -> Command | None:
    """The click command `ct NAME` runs, its module imported now."""
    found = COMMANDS.get(name)
    if found is None:
        return None
    module, attribute, is_group = found
    target: Any = getattr(importlib.import_module(module), attribute)
    if is_group:
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:  # noqa: ARG002 (click's signature)
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:  # noqa: ARG002
        return load_command(cmd_name)


app = typer.Typer(
    cls=LazyCommands,
    help="Control Tower: health, events, runs and audit.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Control Tower: health, events, runs and audit."""


if __name__ == "__main__":
    app()
