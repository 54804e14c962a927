"""All tables, on one MetaData with a naming convention. Features import their tables here."""

from control_tower.models.audit import audit_head, audit_log
from control_tower.models.base import metadata
from control_tower.models.events import events
from control_tower.models.pollers import github_deliveries, poller_etags, poller_state
from control_tower.models.rate_limits import rate_limits
from control_tower.models.scheduler import scheduled_jobs
from control_tower.models.tokens import tokens

__all__ = [
    "audit_head",
    "audit_log",
    "events",
    "github_deliveries",
    "metadata",
    "poller_etags",
    "poller_state",
    "rate_limits",
    "scheduled_jobs",
    "tokens",
]
