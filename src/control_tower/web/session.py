"""UI sessions: a token pasted once, kept in an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from fastapi import Request

from control_tower.auth.principal import Principal
from control_tower.auth.roles import Role
from control_tower.context import AppContext

COOKIE = "ct_session"


async def current_principal(request: Request, ctx: AppContext) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    principal = await ctx.resolve_token(token)
    if principal is None or principal.role is Role.producer:
        return None
    return principal
