"""HTTP doors onto reports: the daily digest and the weekly trend, as JSON or Markdown."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from control_tower.auth.dependencies import Context, RequireViewer
from control_tower.db import unit_of_work
from control_tower.reports import service
from control_tower.reports.links import Links
from control_tower.reports.periods import parse_day, week_monday, week_name
from control_tower.reports.schemas import DailyDigest, ReportKind, WeeklyTrend

api = APIRouter(tags=["reports"])

Format = Literal["json", "md"]
MARKDOWN = "text/markdown; charset=utf-8"


def _responses(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"The {what}: JSON, or Markdown with `format=md` or "
            "`Accept: text/markdown`",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        },
        404: {"description": "The period has not ended yet (`period_not_over`)"},
    }


def _answer(
    ctx: Context, kind: ReportKind, period: str | None, fmt: Format | None, accept: str | None
) -> Response:
    with unit_of_work(ctx.engine, write=False) as conn:
        links = Links(ctx.settings.public_url)
        report = service.read(conn, ctx.catalog, kind, period, links=links, now=ctx.clock.now())
    if fmt == "md" or (fmt is None and "text/markdown" in (accept or "")):
        return Response(report.markdown, media_type=MARKDOWN)
    return Response(report.json, media_type="application/json")


@api.get(
    "/reports/daily",
    response_model=DailyDigest,
    summary="The daily digest: the latest, or of one day",
    responses=_responses("digest"),
)
def get_daily(
    _principal: RequireViewer,
    ctx: Context,
    date: Annotated[
        str | None, Query(max_length=10, description="A day (YYYY-MM-DD); default: the latest")
    ] = None,
    format: Annotated[Format | None, Query(description="json (default) or md")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    period = parse_day(date).isoformat() if date is not None else None
    return _answer(ctx, "daily", period, format, accept)


@api.get(
    "/reports/weekly",
    response_model=WeeklyTrend,
    summary="The weekly trend: the latest, or of one ISO week",
    responses=_responses("weekly trend"),
)
def get_weekly(
    _principal: RequireViewer,
    ctx: Context,
    week: Annotated[
        str | None, Query(max_length=8, description="An ISO week (2026-W48); default: the latest")
    ] = None,
    format: Annotated[Format | None, Query(description="json (default) or md")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    period = week_name(week_monday(week)) if week is not None else None
    return _answer(ctx, "weekly", period, format, accept)
