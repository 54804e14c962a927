"""Runs and triggers: a run's page (transitions, attempts, notes, correlated events), adding a
note, cancelling, and running an allowed trigger — its form, a dry-run preview, then confirm.

Every change goes through the runs service as the signed-in person (the run's initiator and
the audit chain's actor), with the role the API asks for: operator, or the trigger's own.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_tower.auth.roles import Role
from control_tower.kit.errors import CTError, NotFound, Unprocessable
from control_tower.runs import service as runs_service
from control_tower.web.deps import (
    CheckedForm,
    SignedIn,
    UIContext,
    checked_form,
    read,
    render,
    write,
)
from control_tower.web.trigger_forms import as_form, form_fields, form_inputs

pages = APIRouter()

RunId = Annotated[str, Path(max_length=64)]
TriggerName = Annotated[str, Path(max_length=128)]
OperatorForm = Annotated[
    CheckedForm, Depends(checked_form(Role.operator, "This needs the operator role."))
]
NOTE_MAX = 4000


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: RunId, who: SignedIn, ctx: UIContext) -> Response:
    run = await read(ctx, lambda c: runs_service.get_run(c, run_id))
    return render(request, "run.html", who, run=run, active=run.status.value in ("queued",
                  "running"), note_max=NOTE_MAX)  # fmt: skip


@pages.post("/runs/{run_id}/notes")
async def add_note(run_id: RunId, form: OperatorForm, ctx: UIContext) -> Response:
    text = form.fields.get("text", "").strip()
    if not 0 < len(text) <= NOTE_MAX:
        raise Unprocessable(f"a note is 1 to {NOTE_MAX} characters")
    author = form.principal.name
    await write(ctx, lambda c: runs_service.add_note(
        c, run_id, text, author=author, now=ctx.clock.now()))  # fmt: skip
    return RedirectResponse(f"/ui/runs/{run_id}#notes", status_code=303)


@pages.post("/runs/{run_id}/cancel")
async def cancel(run_id: RunId, form: OperatorForm, ctx: UIContext) -> Response:
    actor = form.principal.name
    await write(ctx, lambda c: runs_service.cancel_run(
        c, ctx.catalog, run_id, actor=actor, now=ctx.clock.now()))  # fmt: skip
    return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)


@pages.get("/triggers", response_class=HTMLResponse)
async def triggers(request: Request, who: SignedIn, ctx: UIContext) -> Response:
    return render(request, "triggers.html", who, triggers=ctx.catalog.triggers)


@pages.get("/triggers/{name}", response_class=HTMLResponse)
async def trigger_form(
    request: Request, name: TriggerName, who: SignedIn, ctx: UIContext
) -> Response:
    trigger = ctx.catalog.trigger(name)
    if trigger is None:
        raise NotFound(f"no trigger {name!r} in the catalogue")
    return render(request, "trigger.html", who, trigger=trigger, fields=form_fields(trigger),
                  values={}, error=None, problems=[])  # fmt: skip


@pages.post("/triggers/{name}", response_class=HTMLResponse)
async def preview(
    request: Request, name: TriggerName, form: OperatorForm, ctx: UIContext
) -> Response:
    """The dry run: inputs and guards checked, the call that would be made shown; nothing is
    written. The confirm form carries the same inputs and a fresh idempotency key."""
    trigger = ctx.catalog.trigger(name)
    if trigger is None:
        raise NotFound(f"no trigger {name!r} in the catalogue")
    caller = runs_service.Caller(form.principal.name, form.principal.role)
    try:
        inputs = form_inputs(trigger, form.fields)
        result = await read(ctx, lambda c: runs_service.dry_run(
            c, ctx.catalog, name, inputs, caller=caller, now=ctx.clock.now(),
            base_url=ctx.settings.trigger_target_base_url))  # fmt: skip
    except CTError as exc:
        if exc.status_code not in (409, 422):
            raise
        problems = exc.details if isinstance(exc.details, list) else []
        return render(request, "trigger.html", form.principal, exc.status_code, trigger=trigger,
                      fields=form_fields(trigger), values=form.fields, error=exc.message,
                      problems=problems)  # fmt: skip
    return render(request, "preview.html", form.principal, trigger=trigger, result=result,
                  carried=as_form(inputs), key=f"ui-{uuid.uuid4().hex}")  # fmt: skip


@pages.post("/triggers/{name}/run")
async def confirm(name: TriggerName, form: OperatorForm, ctx: UIContext) -> Response:
    trigger = ctx.catalog.trigger(name)
    if trigger is None:
        raise NotFound(f"no trigger {name!r} in the catalogue")
    caller = runs_service.Caller(form.principal.name, form.principal.role)
    inputs = form_inputs(trigger, form.fields)
    key = form.fields.get("idempotency_key", "")[:200] or None
    accepted = await write(ctx, lambda c: runs_service.start_run(
        c, ctx.catalog, name, inputs, caller=caller, now=ctx.clock.now(),
        idempotency_key=key))  # fmt: skip
    return RedirectResponse(f"/ui/runs/{accepted.run_id}", status_code=303)
