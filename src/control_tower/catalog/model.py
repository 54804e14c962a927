"""The catalogue's shape.

Pydantic checks each entry; `reference_problems` checks how entries refer to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, Literal

import fastjsonschema
from pydantic import Field

from control_tower.catalog.alert_rules import AlertRule, alert_rule_problems
from control_tower.catalog.backups import BackupsSpec, backups_reference_problems
from control_tower.catalog.channels import Channel
from control_tower.catalog.health import BusinessHoursSpec, HeartbeatSpec, SloSpec
from control_tower.catalog.identity import IdentitySpec
from control_tower.catalog.pollers import Poller
from control_tower.catalog.reports import ReportsSpec, report_reference_problems
from control_tower.catalog.triggers import Trigger, trigger_reference_problems
from control_tower.catalog.types import ObjectSchema, Strict, StrictValidator

SLUG = r"^[a-z][a-z0-9_-]{0,31}$"
EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Source(Strict):
    id: str = Field(pattern=SLUG)
    description: str = ""


class EventType(Strict):
    type: str = Field(pattern=EVENT_TYPE)
    description: str = ""
    sources: list[str] = Field(
        default_factory=list, description="Sources allowed to send it; empty means any."
    )
    payload_schema: ObjectSchema = Field(default_factory=lambda: {"type": "object"})
    health_signal: Literal["error", "heartbeat", "run_result"] | None = Field(
        default=None,
        description="How the health model counts it: an error, a heartbeat, or a run result.",
    )

    @cached_property
    def payload_validator(self) -> Any:
        """The payload schema as a jsonschema validator, which names every problem."""
        return StrictValidator(self.payload_schema)

    @cached_property
    def payload_check(self) -> Callable[[Any], Any]:
        """The payload schema compiled to Python by fastjsonschema, which only says whether a
        payload is valid, several times faster than jsonschema (docs/benchmarks.md)."""
        return fastjsonschema.compile(self.payload_schema)


class System(Strict):
    id: str = Field(pattern=SLUG)
    name: str
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    heartbeat: HeartbeatSpec | None = Field(
        default=None, description="Expected heartbeats; omit for systems that only report."
    )
    business_hours: BusinessHoursSpec = Field(default_factory=BusinessHoursSpec)
    slo: SloSpec = Field(default_factory=SloSpec)


class Catalog(Strict):
    version: int = 1
    organisation: str = ""
    sources: list[Source]
    systems: list[System] = Field(default_factory=list)
    event_types: list[EventType] = Field(default_factory=list)
    pollers: list[Poller] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    alert_rules: list[AlertRule] = Field(default_factory=list)
    reports: ReportsSpec = Field(default_factory=ReportsSpec)
    backups: BackupsSpec = Field(default_factory=BackupsSpec)
    identity: IdentitySpec = Field(default_factory=IdentitySpec)

    @cached_property
    def _systems(self) -> dict[str, System]:
        return {s.id: s for s in self.systems}

    @cached_property
    def _triggers(self) -> dict[str, Trigger]:
        return {t.name: t for t in self.triggers}

    @cached_property
    def _types(self) -> dict[str, EventType]:
        return {t.type: t for t in self.event_types}

    def event_type(self, name: str) -> EventType | None:
        return self._types.get(name)

    def system(self, system_id: str) -> System | None:
        return self._systems.get(system_id)

    @cached_property
    def _systems_by_source(self) -> dict[str, list[System]]:
        found: dict[str, list[System]] = {}
        for system in self.systems:
            for source in dict.fromkeys(system.sources):
                found.setdefault(source, []).append(system)
        return found

    def systems_for_source(self, source: str) -> list[System]:
        return list(self._systems_by_source.get(source, ()))

    def trigger(self, name: str) -> Trigger | None:
        return self._triggers.get(name)

    def source_ids(self) -> set[str]:
        return {s.id for s in self.sources}


Problems = list[tuple[tuple[Any, ...], str]]


def reference_problems(data: Any) -> Problems:
    """Problems pydantic cannot see alone: duplicate ids and references to unknown ones.

    Reads the raw mapping, not a validated Catalog, so these are reported together with the
    shape problems of the same file instead of only after those are fixed.
    """
    sources = _entries(data, "sources")
    problems = _duplicates("sources", [(i, e.get("id")) for i, e in sources])
    problems += _duplicates("systems", [(i, e.get("id")) for i, e in _entries(data, "systems")])
    problems += _duplicates(
        "event_types", [(i, e.get("type")) for i, e in _entries(data, "event_types")], key="type"
    )
    known = {e.get("id") for _, e in sources}
    for section in ("systems", "event_types"):
        for i, entry in _entries(data, section):
            refs = entry.get("sources")
            for j, src in enumerate(refs if isinstance(refs, list) else []):
                if isinstance(src, str) and src not in known:
                    problems.append(((section, i, "sources", j), f"unknown source {src!r}"))
    pollers = _entries(data, "pollers")
    problems += _duplicates("pollers", [(i, e.get("name")) for i, e in pollers], key="name")
    system_ids = {e.get("id") for _, e in _entries(data, "systems")}
    for i, entry in pollers:
        system = entry.get("system")
        if isinstance(system, str) and system not in system_ids:
            problems.append((("pollers", i, "system"), f"unknown system {system!r}"))
    problems += _duplicates(
        "triggers", [(i, e.get("name")) for i, e in _entries(data, "triggers")], key="name"
    )
    problems += trigger_reference_problems(_entries(data, "triggers"), system_ids)
    problems += backups_reference_problems(data, system_ids)
    problems += alert_rule_problems(data)
    problems += _duplicates(
        "channels", [(i, e.get("name")) for i, e in _entries(data, "channels")], key="name"
    )
    problems += report_reference_problems(data)
    problems += identity_source_problems(data, known)
    return problems


def identity_source_problems(data: Any, known: set[Any]) -> Problems:
    """The sources named under `identity:` (service accounts, Stripe) must be declared."""
    identity = data.get("identity") if isinstance(data, dict) else None
    if not isinstance(identity, dict):
        return []
    found: Problems = []
    for i, account in _entries(identity, "service_accounts"):
        source = account.get("source")
        if isinstance(source, str) and source not in known:
            where = ("identity", "service_accounts", i, "source")
            found.append((where, f"unknown source {source!r}"))
    stripe = identity.get("stripe")
    source = stripe.get("source") if isinstance(stripe, dict) else None
    if isinstance(source, str) and source not in known:
        found.append((("identity", "stripe", "source"), f"unknown source {source!r}"))
    return found


def _entries(data: Any, section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _duplicates(section: str, ids: list[tuple[int, Any]], key: str = "id") -> Problems:
    seen: set[str] = set()
    found: Problems = []
    for i, value in ids:
        if not isinstance(value, str):
            continue
        if value in seen:
            found.append(((section, i, key), f"duplicate {key} {value!r}"))
        seen.add(value)
    return found
