"""Alerts (acknowledge, silence) and the reports archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from control_tower.alerts import service as alerts_service
from control_tower.alerts.schemas import SilenceIn
from control_tower.auth.roles import Role
from control_tower.dashboards import repository as dashboards_repository
from control_tower.kit.errors import NotFound, Unprocessable
from control_tower.reports import archive
from control_tower.reports.schemas import WeeklyTrend
from control_tower.web.deps import (
    CheckedForm,
    SignedIn,
    UIContext,
    checked_form,
    read,
    render,
    write,
)
from control_tower.web.report_charts import weekly_charts

pages = APIRouter()

OperatorForm = Annotated[
    CheckedForm, Depends(checked_form(Role.operator, "This needs the operator role."))
]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Period = Annotated[str, Path(max_length=16)]


@pages.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, who: SignedIn, ctx: UIContext) -> Response:
    now = ctx.clock.now()

    def load(c: Connection) -> tuple[object, object]:
        found = alerts_service.list_alerts(
            c, ctx.catalog, state=None, rule=None, limit=100, cursor=None, now=now
        )
        return found, alerts_service.list_silences(c, now=now, include_ended=False)

    alerts, silences = await read(ctx, load)
    return render(request, "alerts.html", who, alerts=alerts, silences=silences, now=now,
                  rules=[r.name for r in ctx.catalog.alert_rules],
                  systems=[s.id for s in ctx.catalog.systems])  # fmt: skip


@pages.post("/alerts/{alert_id}/ack")
async def ack(alert_id: AlertId, form: OperatorForm, ctx: UIContext) -> Response:
    actor = form.principal.name
    comment = form.fields.get("comment", "").strip()[:1000] or None
    await write(ctx, lambda c: alerts_service.acknowledge(
        c, ctx.catalog, alert_id, actor=actor, comment=comment, now=ctx.clock.now()))  # fmt: skip
    return RedirectResponse("/ui/alerts", status_code=303)


@pages.post("/silences")
async def silence(form: OperatorForm, ctx: UIContext) -> Response:
    fields = {k: v.strip() for k, v in form.fields.items()}
    try:
        request = SilenceIn(
            rule=fields.get("rule") or None,
            system=fields.get("system") or None,
            duration=fields.get("duration") or None,
            comment=fields.get("comment", ""),
        )
    except ValueError as exc:
        raise Unprocessable(f"invalid silence: {exc}") from exc
    actor = form.principal.name
    await write(ctx, lambda c: alerts_service.create_silence(
        c, ctx.catalog, request, actor=actor, now=ctx.clock.now()))  # fmt: skip
    return RedirectResponse("/ui/alerts", status_code=303)


@pages.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, who: SignedIn, ctx: UIContext) -> Response:
    found = await read(ctx, lambda c: dashboards_repository.archived_reports(c, 100))
    return render(request, "reports.html", who, reports=found)


@pages.get("/reports/{kind}/{period}", response_class=HTMLResponse)
async def report_page(
    request: Request, kind: Period, period: Period, who: SignedIn, ctx: UIContext
) -> Response:
    if kind not in ("daily", "weekly"):
        raise NotFound(f"no report kind {kind!r}")
    held = await read(ctx, lambda c: archive.find(c, kind, period))  # type: ignore[arg-type]
    if held is None:
        raise NotFound(f"no {kind} report {period!r} in the archive")
    charts = []
    if kind == "weekly":
        charts = weekly_charts(WeeklyTrend.model_validate_json(held.rendered.json))
    return render(request, "report.html", who, report=held, charts=charts,
                  markdown=held.rendered.markdown.decode("utf-8", "replace"))  # fmt: skip
