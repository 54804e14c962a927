"""The UI: server-rendered pages mounted at /ui, reading the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from control_tower.dashboards.spec import load_spec
from control_tower.kit.errors import CTError
from control_tower.observability.otel import NO_TELEMETRY
from control_tower.web.deps import HERE, PageForbidden, SignInRequired, render
from control_tower.web.pages import alerts, events, health, login, runs
from control_tower.web.pages.dashboards import dashboard_pages


def create_web_app(parent: FastAPI) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_TELEMETRY)
    web.state.parent = parent  # whose lifespan holds the context (`ui_context`)
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    web.include_router(dashboard_pages(load_spec()))
    for module in (login, health, events, runs, alerts):
        web.include_router(module.pages)

    @web.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, _exc: SignInRequired) -> Response:
        return RedirectResponse("/ui/login", status_code=303)

    @web.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "message.html", exc.principal, 403, message=exc.message)

    @web.exception_handler(CTError)
    async def _refused(request: Request, exc: CTError) -> Response:
        # A bad filter or cursor, a missing run: said on a page, with the error's status.
        return render(request, "message.html", None, exc.status_code, message=exc.message)

    @web.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(map(str, e.get("loc", ()))) for e in exc.errors())
        return render(request, "message.html", None, 422, message=f"Invalid request: {fields}.")

    return web
