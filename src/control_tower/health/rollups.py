"""Apply routed events to the per-system rollups, state and evidence (the router's health handler).

Everything health needs is kept here as small counters per system and hour, so evaluating
health reads a bounded number of rows whatever the size of the event history.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete
from sqlalchemy.dialects import postgresql, sqlite

from control_tower.catalog import Catalog
from control_tower.catalog.model import System
from control_tower.models import health_evidence, system_rollups, system_state
from control_tower.models.health import LATENCY_BOUNDS, LATENCY_COLUMNS

HIGH_SEVERITIES = {"high", "critical"}
FAILED_RUN_STATUSES = {"failed"}
EVIDENCE_KEEP = timedelta(days=8)
# Health reasons show the newest EVIDENCE_LIMIT evidence ids per system and kind; a pass keeps
# that many of its own (the newest), as an older one could never be shown.
EVIDENCE_LIMIT = 5
Evidence = tuple[str, str, str, datetime]  # system_id, kind, event_id, occurred_at


class UnknownSystem(ValueError):
    """An event speaks for a system the catalogue does not have (routing retries, then DLQ)."""


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def latency_column(seconds: float) -> str:
    for bound, column in zip(LATENCY_BOUNDS, LATENCY_COLUMNS, strict=False):
        if seconds <= bound:
            return column
    return LATENCY_COLUMNS[-1]


def attributed_systems(catalog: Catalog, event: Mapping[Any, Any]) -> list[System]:
    """The systems an event speaks for: payload.system_id first, else its source's systems.

    A `system_id` that names no system in the catalogue is an error: the event is retried and
    ends in the DLQ, where someone fixes the catalogue or the producer.
    """
    payload = event["payload"] or {}
    named = payload.get("system_id")
    if isinstance(named, str):
        system = catalog.system(named)
        if system is None:
            raise UnknownSystem(f"event names unknown system {named!r}")
        return [system]
    trigger_system = _run_target_system(catalog, event)
    if trigger_system is not None:
        return [trigger_system]
    return catalog.systems_for_source(event["source"])


def _run_target_system(catalog: Catalog, event: Mapping[Any, Any]) -> System | None:
    if not str(event["type"]).startswith("ct.run."):
        return None
    trigger_name = (event["payload"] or {}).get("trigger")
    trigger = catalog.trigger(trigger_name) if isinstance(trigger_name, str) else None
    return catalog.system(trigger.target.system) if trigger is not None else None


@dataclass
class _Delta:
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class _State:
    last_event_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    last_heartbeat_event_id: str | None = None


@dataclass
class HealthPlan:
    """What a batch of events adds to the rollups, states and evidence: computed from the events
    alone (every write is an increment or a "later of"), so it can be computed before the write
    transaction starts and applied inside it."""

    deltas: dict[tuple[str, datetime], _Delta]
    states: dict[str, _State]
    evidence: list[Evidence]

    def apply(self, conn: Connection) -> set[str]:
        """Write the plan; returns the systems touched."""
        _upsert_rollups(conn, self.deltas)
        _upsert_states(conn, self.states)
        if self.evidence:
            _insert_evidence(conn, self.evidence)
        return set(self.states)


def apply_events(conn: Connection, catalog: Catalog, rows: Iterable[Mapping[Any, Any]]) -> set[str]:
    """Fold events into rollups, state and evidence; returns the systems touched."""
    return plan_events(catalog, rows).apply(conn)


def plan_events(catalog: Catalog, rows: Iterable[Mapping[Any, Any]]) -> HealthPlan:
    deltas: dict[tuple[str, datetime], _Delta] = defaultdict(_Delta)
    states: dict[str, _State] = defaultdict(_State)
    evidence: list[Evidence] = []
    for row in rows:
        etype = catalog.event_type(row["type"])
        signal = etype.health_signal if etype else None
        received = row["received_at"]
        at = min(row["occurred_at"], received)
        latency = max((received - row["occurred_at"]).total_seconds(), 0.0)
        payload = row["payload"] or {}
        for system in attributed_systems(catalog, row):
            delta = deltas[(system.id, hour_floor(at))].counters
            delta["events"] += 1
            delta[latency_column(latency)] += 1
            if latency > system.slo.intake_latency.amber_p95_seconds:
                evidence.append(_evidence(system.id, "slow", row, at))
            if signal == "error":
                delta["errors"] += 1
                if payload.get("severity") in HIGH_SEVERITIES:
                    delta["high_errors"] += 1
                evidence.append(_evidence(system.id, "error", row, at))
            elif signal == "heartbeat":
                delta["heartbeats"] += 1
            elif signal == "run_result":
                failed = payload.get("status") in FAILED_RUN_STATUSES
                delta["runs_failed" if failed else "runs_ok"] += 1
                if failed:
                    evidence.append(_evidence(system.id, "run_failed", row, at))
            state = states[system.id]
            state.last_event_at = max(filter(None, (state.last_event_at, at)))
            # Heartbeats, successful polls and anything the system itself sends prove it alive.
            alive = signal == "heartbeat" or row["source"] in system.sources
            if alive and (state.last_heartbeat_at is None or at >= state.last_heartbeat_at):
                state.last_heartbeat_at = at
                state.last_heartbeat_event_id = row["event_id"]
    return HealthPlan(deltas, states, _newest_evidence(evidence))


def _insert_evidence(conn: Connection, evidence: list[Evidence]) -> None:
    names = ("system_id", "kind", "event_id", "occurred_at")
    rows = [dict(zip(names, e, strict=True)) for e in evidence]
    conn.execute(_EVIDENCE_INSERT[conn.dialect.name], rows)


def _evidence(system_id: str, kind: str, row: Mapping[Any, Any], at: datetime) -> Evidence:
    return (system_id, kind, row["event_id"], at)


def _newest_evidence(candidates: list[Evidence]) -> list[Evidence]:
    """The newest EVIDENCE_LIMIT candidates of each system and kind."""
    by_key: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    for candidate in candidates:
        by_key[candidate[:2]].append(candidate)
    kept: list[Evidence] = []
    for group in by_key.values():
        if len(group) > EVIDENCE_LIMIT:
            group = heapq.nlargest(EVIDENCE_LIMIT, group, key=lambda c: c[3])
        kept += group
    return kept


_ROLLUP_COLUMNS = ("events", "errors", "high_errors", "heartbeats", "runs_ok", "runs_failed",
                   *LATENCY_COLUMNS)  # fmt: skip
# Each dialect's INSERT … ON CONFLICT (both stores speak it; SQLAlchemy spells it per dialect).
_DIALECT_INSERTS: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _rollups_upsert(insert: Callable[[Any], Any]) -> Any:
    stmt = insert(system_rollups)
    return stmt.on_conflict_do_update(
        index_elements=["system_id", "bucket_start"],
        set_={name: system_rollups.c[name] + stmt.excluded[name] for name in _ROLLUP_COLUMNS},
    )


def _upsert_rollups(conn: Connection, deltas: dict[tuple[str, datetime], _Delta]) -> None:
    rows = [
        {"system_id": system_id, "bucket_start": bucket,
         **{name: delta.counters.get(name, 0) for name in _ROLLUP_COLUMNS}}
        for (system_id, bucket), delta in deltas.items()
    ]  # fmt: skip
    if rows:
        conn.execute(_ROLLUPS_UPSERT[conn.dialect.name], rows)


def _later(column: Any, new: Any) -> Any:
    return case((column.is_(None), new), (new > column, new), else_=column)


def _states_upsert(insert: Callable[[Any], Any]) -> Any:
    stmt = insert(system_state)
    ex, current = stmt.excluded, system_state.c
    # A batch without a heartbeat for the system sends NULL, which never counts as newer.
    newer = current.last_heartbeat_at.is_(None) | (ex.last_heartbeat_at > current.last_heartbeat_at)
    return stmt.on_conflict_do_update(
        index_elements=["system_id"],
        set_={
            "last_event_at": _later(current.last_event_at, ex.last_event_at),
            "last_heartbeat_at": case(
                (newer & ex.last_heartbeat_at.is_not(None), ex.last_heartbeat_at),
                else_=current.last_heartbeat_at,
            ),
            "last_heartbeat_event_id": case(
                (newer & ex.last_heartbeat_at.is_not(None), ex.last_heartbeat_event_id),
                else_=current.last_heartbeat_event_id,
            ),
        },
    )


def _upsert_states(conn: Connection, states: dict[str, _State]) -> None:
    rows: list[dict[str, Any]] = [
        {"system_id": system_id, "last_event_at": state.last_event_at,
         "last_heartbeat_at": state.last_heartbeat_at,
         "last_heartbeat_event_id": state.last_heartbeat_event_id,
         "status": "unknown", "reasons": []}
        for system_id, state in states.items()
    ]  # fmt: skip
    if rows:
        conn.execute(_STATES_UPSERT[conn.dialect.name], rows)


# Built once per dialect, so SQLAlchemy compiles each once.
_ROLLUPS_UPSERT = {name: _rollups_upsert(insert) for name, insert in _DIALECT_INSERTS.items()}
_STATES_UPSERT = {name: _states_upsert(insert) for name, insert in _DIALECT_INSERTS.items()}
_EVIDENCE_INSERT = {
    name: insert(health_evidence).on_conflict_do_nothing()
    for name, insert in _DIALECT_INSERTS.items()
}


def prune_evidence(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        delete(health_evidence).where(health_evidence.c.occurred_at < now - EVIDENCE_KEEP)
    )
    return int(result.rowcount or 0)
