"""What auth adds to the health model: a token (and its signing secret) older than
`CT_TOKEN_MAX_AGE_DAYS` turns CT's own system amber, naming the token, until it is rotated
or revoked (work order §10: keys rotated quarterly). Registered with the other features'
objectives by `control_tower.background`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from control_tower.auth.tokens import stale_tokens
from control_tower.catalog.model import System
from control_tower.health.objectives import ObjectiveCheck, ObjectiveRegistry
from control_tower.health.schemas import HealthStatus, Reason
from control_tower.settings import Settings

CT_SYSTEM = "ct"  # the catalogue's system for Control Tower itself


def token_age_objective(max_age_days: int) -> ObjectiveCheck:
    max_age = timedelta(days=max_age_days)

    def check(conn: Connection, system: System, now: datetime) -> list[Reason]:
        if system.id != CT_SYSTEM:
            return []
        return [
            Reason(
                objective="token_age",
                status=HealthStatus.amber,
                measured={"token": name, "age_days": age},
                threshold=f"{max_age_days} days",
                window="since the token and its signing secret were issued",
                message=f"token {name!r} is {age} days old (over {max_age_days}): rotate it "
                f"with `ct token rotate {name} --overlap 7d`",
            )
            for name, age in stale_tokens(conn, now, max_age)
        ]

    return check


def register_token_age_objective(registry: ObjectiveRegistry, settings: Settings) -> None:
    registry.add("token_age", token_age_objective(settings.token_max_age_days))
