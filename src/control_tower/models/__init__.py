"""All tables, on one MetaData with a naming convention. Features import their tables here."""

from control_tower.models.audit import audit_head, audit_log
from control_tower.models.base import metadata
from control_tower.models.events import events
from control_tower.models.rate_limits import rate_limits
from control_tower.models.runs import run_notes, run_transitions, runs
from control_tower.models.tokens import tokens

__all__ = [
    "audit_head",
    "audit_log",
    "events",
    "metadata",
    "rate_limits",
    "run_notes",
    "run_transitions",
    "runs",
    "tokens",
]
