"""`ct digest` and `ct weekly`: make a report (archived, write-once), print it, send it."""

from __future__ import annotations

import sys
from contextlib import redirect_stdout
from typing import Annotated

import typer

from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import cli_errors, engine, now, settings
from control_tower.reports.archive import folder
from control_tower.reports.links import Links
from control_tower.reports.periods import (
    last_complete_day,
    last_complete_week,
    parse_day,
    week_monday,
    week_name,
)
from control_tower.reports.schemas import ReportKind
from control_tower.reports.tasks import make_report

SendOption = Annotated[
    bool, typer.Option("--send", help="Queue it on its catalogue channels (once per period).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON, not the Markdown.")]


def digest(
    date: Annotated[
        str | None, typer.Option("--date", help="The day (YYYY-MM-DD); default: yesterday.")
    ] = None,
    send: SendOption = False,
    as_json: JsonOption = False,
) -> None:
    """Make the daily digest of a day in the catalogue's zone, archive it and print it."""
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        day = parse_day(date) if date else last_complete_day(now(), catalog.reports.tz)
        _make("daily", day.isoformat(), send=send, as_json=as_json)


def weekly(
    week: Annotated[
        str | None,
        typer.Option("--week", help="The ISO week (2026-W48); default: the last complete one."),
    ] = None,
    send: SendOption = False,
    as_json: JsonOption = False,
) -> None:
    """Make the weekly trend of an ISO week, archive it and print it."""
    with cli_errors():
        catalog = load_configured_catalog(settings().catalog)
        monday = week_monday(week) if week else last_complete_week(now(), catalog.reports.tz)
        _make("weekly", week_name(monday), send=send, as_json=as_json)


def _make(kind: ReportKind, period: str, *, send: bool, as_json: bool) -> None:
    s = settings()
    catalog = load_configured_catalog(s.catalog)
    # Stdout carries the report alone: what is logged meanwhile goes to stderr.
    with redirect_stdout(sys.stderr), engine() as eng:
        made, queued = make_report(eng, catalog, kind, period, links=Links(s.public_url),
                                   data_dir=s.data_dir, now=now(), send=send)  # fmt: skip
    report = made.archived.rendered
    where = folder(s.data_dir, kind, period)
    notes = {
        "archived": f"archived in {where}",
        "unchanged": f"already archived, identical, in {where}",
        "refused": f"already archived in {where} with other content: the archive keeps the "
        "first (this is it); the store has learnt something about the period since",
    }
    typer.echo(f"{kind} {period}: {notes[made.outcome]}", err=True)
    if send:
        channels = ", ".join(queued) or "none (already queued, or no channels in the catalogue)"
        typer.echo(f"queued on: {channels}", err=True)
    typer.echo((report.json if as_json else report.markdown).decode(), nl=False)
