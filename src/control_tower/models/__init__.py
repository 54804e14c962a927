"""All tables, on one MetaData with a naming convention. Features import their tables here."""

from control_tower.models.alerts import alert_events, alert_rate_buckets, alerts, silences
from control_tower.models.audit import audit_head, audit_log
from control_tower.models.backups import backup_runs as backup_runs
from control_tower.models.base import metadata
from control_tower.models.events import events
from control_tower.models.health import (
    health_evidence,
    system_rollups,
    system_state,
    system_status_changes,
)
from control_tower.models.identity import staff_users as staff_users
from control_tower.models.identity import token_predecessors as token_predecessors
from control_tower.models.notify import notification_attempts, notifications
from control_tower.models.pollers import github_deliveries, poller_etags, poller_state
from control_tower.models.reports import *  # noqa: F403 (the tables in its __all__)
from control_tower.models.routing import correlations, event_routes
from control_tower.models.runs import run_notes, run_transitions, runs
from control_tower.models.scheduler import scheduled_jobs
from control_tower.models.sessions import ui_sessions
from control_tower.models.tokens import tokens

__all__ = [
    "alert_events",
    "alert_rate_buckets",
    "alerts",
    "audit_head",
    "audit_log",
    "correlations",
    "event_routes",
    "events",
    "github_deliveries",
    "health_evidence",
    "metadata",
    "notification_attempts",
    "notifications",
    "poller_etags",
    "poller_state",
    "run_notes",
    "run_transitions",
    "runs",
    "scheduled_jobs",
    "silences",
    "system_rollups",
    "system_state",
    "system_status_changes",
    "tokens",
    "ui_sessions",
]
