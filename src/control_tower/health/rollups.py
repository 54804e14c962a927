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

from sqlalchemy import Connection, case, delete, text

from control_tower.catalog import Catalog
from control_tower.catalog.model import System
from control_tower.db import conflict_insert
from control_tower.kit.errors import Unprocessable
from control_tower.kit.json_text import dumps_text
from control_tower.models import health_evidence, system_rollups, system_state
from control_tower.models.base import naive_utc_text
from control_tower.models.health import LATENCY_BOUNDS, LATENCY_COLUMNS

HIGH_SEVERITIES = {"high", "critical"}
FAILED_RUN_STATUSES = {"failed"}
EVIDENCE_KEEP = timedelta(days=8)
# Health reasons show the newest EVIDENCE_LIMIT evidence ids per system and kind; a pass keeps
# that many of its own (the newest), as an older one could never be shown.
EVIDENCE_LIMIT = 5


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
            raise Unprocessable(f"event names unknown system {named!r}", code="unknown_system")
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
    evidence: list[_Candidate] = []
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


# The evidence rows arrive as (system_id, kind, event_id, occurred_at text), rendered when the
# plan was made, outside the write transaction. PostgreSQL: the rows as one JSON document in one
# statement (psycopg's executemany sends a row at a time, its parameters dumped in Python: ≈ 80
# µs per row). SQLite: the driver's executemany, which loops in C, without SQLAlchemy's
# per-row bind processing (≈ 10 µs per row, under the write lock).
_PG_INSERT_EVIDENCE = text(
    """
    INSERT INTO health_evidence (system_id, kind, event_id, occurred_at)
    SELECT r.system_id, r.kind, r.event_id, r.occurred_at
      FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS r(system_id varchar, kind varchar, event_id varchar, occurred_at timestamp)
    ON CONFLICT DO NOTHING
    """
)
_SQLITE_INSERT_EVIDENCE = (
    "INSERT INTO health_evidence (system_id, kind, event_id, occurred_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
Evidence = tuple[str, str, str, str]
_Candidate = tuple[str, str, str, datetime]  # evidence before its time is rendered


def _insert_evidence(conn: Connection, evidence: list[Evidence]) -> None:
    if conn.dialect.name == "postgresql":
        names = ("system_id", "kind", "event_id", "occurred_at")
        rows = [dict(zip(names, e, strict=True)) for e in evidence]
        conn.execute(_PG_INSERT_EVIDENCE, {"rows": dumps_text(rows)})
        return
    conn.exec_driver_sql(_SQLITE_INSERT_EVIDENCE, evidence)


def _evidence(system_id: str, kind: str, row: Mapping[Any, Any], at: datetime) -> _Candidate:
    return (system_id, kind, row["event_id"], at)


def _newest_evidence(candidates: list[_Candidate]) -> list[Evidence]:
    """The newest EVIDENCE_LIMIT candidates of each system and kind, times rendered."""
    by_key: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_key[candidate[:2]].append(candidate)
    kept: list[Evidence] = []
    for group in by_key.values():
        if len(group) > EVIDENCE_LIMIT:
            group = heapq.nlargest(EVIDENCE_LIMIT, group, key=lambda c: c[3])
        kept += [(s, k, e, naive_utc_text(at)) for s, k, e, at in group]
    return kept


_ROLLUP_COLUMNS = ("events", "errors", "high_errors", "heartbeats", "runs_ok", "runs_failed",
                   *LATENCY_COLUMNS)  # fmt: skip
# One statement object per dialect and purpose, built once: SQLAlchemy then compiles it once
# and memoises its cache key, where a statement built per pass cost ≈ 1 ms of the write lock.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(conn: Connection, purpose: str, build: Callable[[Connection], Any]) -> Any:
    key = (conn.dialect.name, purpose)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(conn)
    return statement


def _rollups_upsert(conn: Connection) -> Any:
    stmt = conflict_insert(conn, system_rollups)
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
        conn.execute(_statement(conn, "rollups", _rollups_upsert), rows)


def _later(column: Any, new: Any) -> Any:
    return case((column.is_(None), new), (new > column, new), else_=column)


def _states_upsert(conn: Connection) -> Any:
    stmt = conflict_insert(conn, system_state)
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
        conn.execute(_statement(conn, "states", _states_upsert), rows)


def prune_evidence(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        delete(health_evidence).where(health_evidence.c.occurred_at < now - EVIDENCE_KEEP)
    )
    return int(result.rowcount or 0)
