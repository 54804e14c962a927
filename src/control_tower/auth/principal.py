from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from control_tower.auth.roles import Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's identity, never its secret."""

    token_id: str
    name: str
    role: Role
    source: str | None
    rate_per_minute: int | None
    burst: int | None
    expires_at: datetime | None = None
    # Ids of signing secrets a rotation keeps valid for a while, each with its end
    # (`ct token rotate --overlap`); the current secret is derived from `token_id`.
    previous_signing: tuple[tuple[str, datetime], ...] = ()
