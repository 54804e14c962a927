"""`ct docs`: regenerate the OpenAPI document and JSON Schemas from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from control_tower.docs_export import write_all


def export_docs(root: Annotated[Path, typer.Option("--root")] = Path(".")) -> None:
    """Write docs/design/openapi/control_tower.yaml and docs/control_tower/schemas/*.json."""
    for path in write_all(root):
        typer.echo(f"wrote {path}")
