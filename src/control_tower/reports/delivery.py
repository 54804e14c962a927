"""Reports go out through notify's outbox: one message per report, queued on each of its
catalogue channels in the caller's transaction, keyed by the period so a report is queued once
per channel however often it is sent."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import Connection

from control_tower.catalog import Catalog
from control_tower.kit.errors import NotFound
from control_tower.notify.service import Message, enqueue
from control_tower.reports.archive import Rendered

log = structlog.get_logger(__name__)

TITLES = {"daily": "daily digest", "weekly": "weekly trend"}


def message(catalog: Catalog, report: Rendered, html: str | None) -> Message:
    who = catalog.organisation or "Control Tower"
    return Message(
        kind="digest" if report.kind == "daily" else "weekly",
        title=f"{who} {TITLES[report.kind]} {report.period}",
        text=report.markdown.decode(),
        html=html,
        details={"report": report.kind, "period": report.period},
    )


def key(report: Rendered) -> str:
    return f"report:{report.kind}:{report.period}"


def send(
    conn: Connection,
    catalog: Catalog,
    report: Rendered,
    html: str | None,
    channels: list[str],
    *,
    now: datetime,
) -> list[str]:
    """Queue `report` on `channels`; the ones it was newly queued on. A channel the catalogue
    does not declare is logged and skipped: the others still get the report."""
    note = message(catalog, report, html)
    queued = []
    for channel in channels:
        try:
            if enqueue(conn, catalog, channel, note, now=now, key=key(report)):
                queued.append(channel)
        except NotFound as exc:
            log.error("report_channel_unknown", channel=channel, kind=report.kind,
                      period=report.period, error=exc.message)  # fmt: skip
    return queued
