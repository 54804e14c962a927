"""The dashboards of the spec, one page each, built from it: the page reads every panel's
query in one read transaction and draws it by kind (charts as inline SVG)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from control_tower.auth.principal import Principal
from control_tower.dashboards import service as dashboards
from control_tower.dashboards.panels.events import LAST_CHOICES
from control_tower.dashboards.schemas import SeriesData
from control_tower.dashboards.spec import Dashboard, Spec
from control_tower.web.charts import chart
from control_tower.web.deps import UIContext, read, render, require_page

# The query string a page keeps when it refreshes or pages on (the event stream's filters).
FILTERS = ("source", "type", "last", "since", "until", "correlation_id", "event_id")


def dashboard_page(dashboard: Dashboard) -> Callable[..., Coroutine[Any, Any, Response]]:
    page_role = require_page(dashboard.role, f"{dashboard.title} needs the "
                             f"{dashboard.role.value} role.")  # fmt: skip

    async def page(
        request: Request, ctx: UIContext, who: Principal = Depends(page_role)
    ) -> Response:
        params = {k: v for k, v in request.query_params.items() if len(v) <= 200}
        now = ctx.clock.now()
        views = await read(
            ctx, lambda c: dashboards.load_dashboard(c, dashboard, ctx.catalog, now, params)
        )
        charts: dict[str, Markup] = {
            v.panel.id: chart(v.panel, v.data)
            for v in views
            if isinstance(v.data, SeriesData) and not v.data.empty
        }
        filters = {k: params.get(k, "") for k in FILTERS}
        return render(
            request, "dashboard.html", who, dashboard=dashboard, views=views, charts=charts,
            now=now, filters=filters, last_choices=LAST_CHOICES,
            sources=sorted(ctx.catalog.source_ids()),
            types=sorted(t.type for t in ctx.catalog.event_types),
        )  # fmt: skip

    page.__name__ = f"dashboard_{dashboard.id}"
    return page


def dashboard_pages(spec: Spec) -> APIRouter:
    """A GET page per dashboard of the spec, at its path under /ui."""
    pages = APIRouter()
    for dashboard in spec.dashboards:
        pages.add_api_route(
            dashboard.path.removeprefix("/ui") or "/",
            dashboard_page(dashboard),
            methods=["GET"],
            response_class=HTMLResponse,
            name=f"dashboard_{dashboard.id}",
        )
    return pages
