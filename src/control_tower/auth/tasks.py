"""Auth's scheduled work: forget rate-limit state of keys that have gone quiet."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from control_tower.auth.rate_limit import expire_idle_rate_limits
from control_tower.db import unit_of_work
from control_tower.scheduler import Every, Job, Slot


def auth_jobs(engine: Engine) -> list[Job]:
    """Hourly, delete idle rows of the shared rate limiter (PostgreSQL keeps one per key)."""

    def expire(_slot: Slot) -> None:
        # Rate limits run on the wall clock, not the app's: so does their expiry.
        with unit_of_work(engine) as conn:
            expire_idle_rate_limits(conn, time.time())

    return [Job("rate_limits:expire", Every(3600), expire)]
