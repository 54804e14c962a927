"""Report use cases: make a period's report (and archive it), read one (archived, else made on
the fly), deliver one. The jobs, the API and the CLI all come here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.kit.errors import NotFound
from control_tower.reports import archive, delivery
from control_tower.reports.archive import Archived, ArchiveOutcome, Rendered
from control_tower.reports.digest import build_digest
from control_tower.reports.document import to_html, to_markdown
from control_tower.reports.links import Links
from control_tower.reports.periods import (
    day_period,
    last_complete_day,
    last_complete_week,
    parse_day,
    week_monday,
    week_name,
    week_period,
)
from control_tower.reports.schemas import ReportKind
from control_tower.reports.weekly import build_weekly
from control_tower.reports.writing import digest_blocks, weekly_blocks


def json_bytes(model: BaseModel) -> bytes:
    """Sorted keys, two-space indent, UTF-8, one final newline: the bytes are the report."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode()


def render_daily(conn: Connection, catalog: Catalog, day: date, links: Links) -> Rendered:
    digest = build_digest(conn, catalog, day, links)
    blocks = digest_blocks(digest)
    return Rendered("daily", day.isoformat(), json_bytes(digest),
                    to_markdown(blocks).encode(), to_html(blocks))  # fmt: skip


def render_weekly(conn: Connection, catalog: Catalog, monday: date, links: Links) -> Rendered:
    trend = build_weekly(conn, catalog, monday, links)
    blocks = weekly_blocks(trend)
    return Rendered("weekly", week_name(monday), json_bytes(trend),
                    to_markdown(blocks).encode(), to_html(blocks))  # fmt: skip


def _render(
    conn: Connection, catalog: Catalog, kind: ReportKind, period: str, links: Links
) -> Rendered:
    if kind == "daily":
        return render_daily(conn, catalog, parse_day(period), links)
    return render_weekly(conn, catalog, week_monday(period), links)


def _check_ended(catalog: Catalog, kind: ReportKind, period: str, now: datetime) -> None:
    tz = catalog.reports.tz
    span = (day_period(parse_day(period), tz) if kind == "daily"
            else week_period(week_monday(period), tz))  # fmt: skip
    if span.end > now:
        raise NotFound(
            f"no {kind} report for {period}: it has not ended yet "
            f"(it ends at {span.end.astimezone(tz).isoformat()})",
            code="period_not_over",
        )


@dataclass(frozen=True)
class Made:
    outcome: ArchiveOutcome
    archived: Archived
    html: str | None  # the HTML of the archived version, when the one just made is it


def make(
    conn: Connection,
    catalog: Catalog,
    kind: ReportKind,
    period: str,
    *,
    links: Links,
    data_dir: Path,
    now: datetime,
    late: bool = False,
) -> Made:
    """Make the report of a period that has ended and archive it (write-once), in one
    transaction."""
    return keep(conn, render(conn, catalog, kind, period, links=links, now=now),
                data_dir=data_dir, now=now, late=late)  # fmt: skip


def render(
    conn: Connection, catalog: Catalog, kind: ReportKind, period: str, *, links: Links,
    now: datetime,
) -> Rendered:  # fmt: skip
    """The report of a period that has ended (reads only)."""
    _check_ended(catalog, kind, period, now)
    return _render(conn, catalog, kind, period, links)


def keep(
    conn: Connection, made: Rendered, *, data_dir: Path, now: datetime, late: bool = False
) -> Made:
    """Archive a report just made (write-once)."""
    outcome, held = archive.store(conn, data_dir, made, now=now, late=late)
    return Made(outcome, held, made.html if outcome != "refused" else None)


def deliver(conn: Connection, catalog: Catalog, made: Made, *, now: datetime) -> list[str]:
    """Queue the archived report on its channels (idempotent per period and channel); the
    channels it was newly queued on."""
    spec = catalog.reports
    report = made.archived.rendered
    channels = spec.daily_digest.channels if report.kind == "daily" else spec.weekly_trend.channels
    queued = delivery.send(conn, catalog, report, made.html, channels, now=now)
    if channels:
        archive.mark_delivered(conn, report.kind, report.period, now)
    return queued


def read(
    conn: Connection,
    catalog: Catalog,
    kind: ReportKind,
    period: str | None,
    *,
    links: Links,
    now: datetime,
) -> Rendered:
    """A period's report: the archived one, else made now (not archived: a read writes
    nothing). Without a period: the latest archived, else the last period that has ended."""
    if period is None:
        latest = archive.latest(conn, kind)
        if latest is not None:
            return latest.rendered
        tz = catalog.reports.tz
        period = (last_complete_day(now, tz).isoformat() if kind == "daily"
                  else week_name(last_complete_week(now, tz)))  # fmt: skip
    held = archive.find(conn, kind, period)
    if held is not None:
        return held.rendered
    _check_ended(catalog, kind, period, now)
    return _render(conn, catalog, kind, period, links)
