"""Health use cases: evaluate systems, record status changes, rebuild rollups from events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, delete, select, update

from control_tower.catalog import Catalog
from control_tower.catalog.model import System as CatalogSystem
from control_tower.events.correlations import apply_correlations
from control_tower.health import rollups, slo
from control_tower.health.hooks import StatusChangeHook, SystemStatusChange
from control_tower.health.schemas import (
    HealthOverview,
    HealthStatus,
    StatusChange,
    System,
    SystemDetail,
)
from control_tower.kit.errors import NotFound
from control_tower.models import (
    correlations,
    event_routes,
    events,
    health_evidence,
    system_rollups,
    system_state,
    system_status_changes,
)

RECENT_CHANGES = 20


def _system(system: CatalogSystem, ev: slo.Evaluation) -> System:
    return System(
        system_id=system.id,
        name=system.name,
        status=ev.status,
        reasons=ev.reasons,
        last_heartbeat_at=ev.last_heartbeat_at,
        errors_24h=ev.errors_24h,
        slo=_slo_config(system),
        notes=system.description,
    )


def _slo_config(system: CatalogSystem) -> dict[str, Any]:
    config: dict[str, Any] = system.slo.model_dump(mode="json")
    if system.heartbeat is not None:
        config["heartbeat"] = system.heartbeat.model_dump(mode="json")
    config["business_hours"] = system.business_hours.model_dump(mode="json")
    return config


def overview(conn: Connection, catalog: Catalog, now: datetime) -> HealthOverview:
    systems = [_system(s, slo.evaluate(conn, s, now)) for s in catalog.systems]
    return HealthOverview(
        status=slo.worst([s.status for s in systems]), evaluated_at=now, systems=systems
    )


def list_systems(conn: Connection, catalog: Catalog, now: datetime) -> list[System]:
    return overview(conn, catalog, now).systems


def system_detail(
    conn: Connection, catalog: Catalog, system_id: str, now: datetime
) -> SystemDetail:
    system = catalog.system(system_id)
    if system is None:
        raise NotFound(f"no system {system_id!r} in the catalogue")
    base = _system(system, slo.evaluate(conn, system, now))
    state = conn.execute(
        select(system_state.c.status_since).where(system_state.c.system_id == system_id)
    ).first()
    changes = conn.execute(
        select(system_status_changes)
        .where(system_status_changes.c.system_id == system_id)
        .order_by(system_status_changes.c.at.desc(), system_status_changes.c.id.desc())
        .limit(RECENT_CHANGES)
    )
    return SystemDetail(
        **base.model_dump(),
        sources=system.sources,
        evaluated_at=now,
        status_since=state.status_since if state else None,
        recent_changes=[
            StatusChange(
                at=r.at,
                from_status=HealthStatus(r.from_status),
                to_status=HealthStatus(r.to_status),
                reasons=r.reasons,
            )
            for r in changes
        ],
    )


def record_status_changes(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    system_ids: set[str] | None = None,
    hook: StatusChangeHook | None = None,
) -> list[SystemStatusChange]:
    """Store a history row for each system whose status moved, tell the hook's subscribers in
    the same transaction, and return the changes.

    The conditional UPDATE makes this safe when two routers evaluate at once: only the one
    that moves the stored status writes the history row (and publishes the change).
    """
    changed: list[SystemStatusChange] = []
    for system in catalog.systems:
        if system_ids is not None and system.id not in system_ids:
            continue
        current = conn.execute(
            select(system_state.c.status).where(system_state.c.system_id == system.id)
        ).first()
        if current is None:
            continue
        ev = slo.evaluate(conn, system, now)
        if ev.status.value == current.status:
            continue
        reasons = [r.model_dump(mode="json") for r in ev.reasons]
        moved = conn.execute(
            update(system_state)
            .where(system_state.c.system_id == system.id, system_state.c.status == current.status)
            .values(status=ev.status.value, reasons=reasons, status_since=now)
        )
        if moved.rowcount == 1:
            change = SystemStatusChange(
                system_id=system.id,
                at=now,
                from_status=HealthStatus(current.status),
                to_status=ev.status,
                reasons=reasons,
            )
            conn.execute(system_status_changes.insert().values(**change.row()))
            changed.append(change)
    if changed and hook is not None:
        hook.publish(conn, changed)
    return changed


REBUILD_BATCH = 5000


class RebuildPart(Protocol):
    """Another feature's counters kept from routed events, which `rebuild` recomputes too."""

    def reset(self, conn: Connection) -> None: ...

    def apply(self, conn: Connection, rows: Sequence[Any]) -> None: ...


def rebuild(conn: Connection, catalog: Catalog, parts: Sequence[RebuildPart] = ()) -> int:
    """Recompute rollups, state, evidence and correlations (and `parts`) from the routed
    events."""
    for table in (system_rollups, health_evidence, correlations):
        conn.execute(delete(table))
    for part in parts:
        part.reset(conn)
    conn.execute(
        update(system_state).values(last_heartbeat_at=None, last_heartbeat_event_id=None,
                                    last_event_at=None)
    )  # fmt: skip
    count = 0
    last_seq = 0
    while True:
        batch = list(
            conn.execute(
                select(events)
                .join(event_routes, event_routes.c.event_id == events.c.event_id)
                .where(event_routes.c.status == "routed", events.c.seq > last_seq)
                .order_by(events.c.seq)
                .limit(REBUILD_BATCH)
            ).mappings()
        )
        if not batch:
            break
        rollups.apply_events(conn, catalog, batch)
        apply_correlations(conn, batch)
        for part in parts:
            part.apply(conn, batch)
        count += len(batch)
        last_seq = batch[-1]["seq"]
    return count
