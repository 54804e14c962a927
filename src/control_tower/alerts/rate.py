"""event_rate rules, evaluated inside routing.

The routing handler picks the batch's qualifying events per rule and labels (fingerprint)
before the write transaction; in it, it adds them to a sliding count (`alert_rate_buckets`,
one row per rule, fingerprint and second) and checks the window ending at each qualifying
event. So the event that crosses the threshold fires the alert in the very transaction that
marks it routed, and forty events make one alert (the later ones refresh its count).

Time is the event's: `occurred_at`, but never later than when CT received it (a producer's
clock running ahead cannot stretch a window), and an event that arrives a whole window late
counts for nothing (a backfill is not a burst). Windows are exact to the second.
`alerts:evaluate` resolves the alert once the count over the window ending now is back to
the threshold, and prunes old counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from control_tower.alerts import repository
from control_tower.alerts.lifecycle import (
    Condition,
    fingerprint,
    raise_alert,
    resolve_alert,
    send_due,
)
from control_tower.catalog import Catalog
from control_tower.catalog.alert_rules import EventRateRule, label_name
from control_tower.routing.handlers import Effect, EventRows


@dataclass
class _Group:
    """One rule's qualifying events for one fingerprint in a batch."""

    rule: EventRateRule
    labels: dict[str, str]
    times: list[datetime] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.labels)


def rate_rules(catalog: Catalog) -> list[EventRateRule]:
    return [rule for rule in catalog.alert_rules if isinstance(rule, EventRateRule)]


def plan_rates(catalog: Catalog, rows: EventRows) -> list[_Group]:
    """The batch's qualifying events, grouped by rule and fingerprint (no store access)."""
    by_type: dict[str, list[tuple[EventRateRule, timedelta]]] = {}
    for rule in rate_rules(catalog):
        window = timedelta(minutes=rule.window_minutes)
        by_type.setdefault(rule.event_type, []).append((rule, window))
    if not by_type:
        return []
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], _Group] = {}
    for row in rows:
        for rule, window in by_type.get(row["type"], ()):
            payload = row["payload"] if isinstance(row["payload"], Mapping) else {}
            if not _matches(rule, payload):
                continue
            at = min(row["occurred_at"], row["received_at"])
            if at <= row["received_at"] - window:
                continue
            labels = event_labels(catalog, rule, row, payload)
            # Keyed by the labels as given (their order is the rule's): the fingerprint, a
            # hash, is taken once per group, not once per event.
            key = (rule.name, tuple(labels.items()))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(rule, labels)
            group.times.append(at.replace(microsecond=0))
    return list(groups.values())


def _matches(rule: EventRateRule, payload: Mapping[str, Any]) -> bool:
    return all(payload.get(name) in allowed for name, allowed in rule.match.items())


def event_labels(
    catalog: Catalog, rule: EventRateRule, row: Mapping[str, Any], payload: Mapping[str, Any]
) -> dict[str, str]:
    """The labels `group_by` asks for; one the event does not give is left out."""
    labels: dict[str, str] = {}
    for entry in rule.group_by:
        value: Any
        if entry == "system":
            value = _system_of(catalog, row["source"], payload)
        elif entry == "source":
            value = row["source"]
        else:
            value = payload.get(label_name(entry))
        if value is not None and not isinstance(value, dict | list):
            labels[label_name(entry)] = str(value)
    return labels


def _system_of(catalog: Catalog, source: str, payload: Mapping[str, Any]) -> str | None:
    named = payload.get("system_id")
    if isinstance(named, str) and catalog.system(named) is not None:
        return named
    systems = catalog.systems_for_source(source)
    return systems[0].id if len(systems) == 1 else None


def apply_rates(conn: Connection, catalog: Catalog, groups: list[_Group]) -> None:
    """Count the batch's events and fire (or refresh) the alerts they call for."""
    repository.lock_fingerprints(conn, [group.fingerprint for group in groups])
    repository.add_to_buckets(
        conn,
        [
            {"rule": g.rule.name, "fingerprint": g.fingerprint, "bucket_at": at, "hits": n}
            for g in groups
            for at, n in Counter(g.times).items()
        ],
    )
    fired: list[int] = []
    for group in groups:
        alert_id = _evaluate(conn, catalog, group)
        if alert_id is not None:
            fired.append(alert_id)
    if fired:  # with group_wait 0 the page goes in this transaction
        latest = max(t for g in groups for t in g.times)
        send_due(conn, catalog, latest, fired)


def _evaluate(conn: Connection, catalog: Catalog, group: _Group) -> int | None:
    rule = group.rule
    window = timedelta(minutes=rule.window_minutes)
    times = sorted(set(group.times))
    buckets = repository.bucket_counts(
        conn, rule.name, group.fingerprint, times[0] - window, times[-1]
    )
    crossed: datetime | None = None
    count = first = last = 0
    for at in times:  # the count over the window ending at each event (both sorted)
        while last < len(buckets) and buckets[last][0] <= at:
            count += buckets[last][1]
            last += 1
        while first < last and buckets[first][0] <= at - window:
            count -= buckets[first][1]
            first += 1
        if crossed is None and count > rule.more_than:
            crossed = at
    if crossed is None:
        return None  # below the threshold all along; alerts:evaluate resolves an open alert
    condition = _condition(rule, group.labels, since=crossed, count=count)
    alert_id = raise_alert(conn, condition, times[-1])
    if count <= rule.more_than:
        # The burst crossed the threshold and was over by the batch's last event (a router
        # catching up on a backlog): resolved at once, so a new alert never pages.
        alert = repository.get_alert(conn, alert_id)
        if alert is not None and alert.state != "resolved":
            resolve_alert(conn, catalog, alert, at=times[-1], reason="burst over in the batch")
    return alert_id


def _condition(
    rule: EventRateRule, labels: Mapping[str, str], *, since: datetime, count: int
) -> Condition:
    fields = {"count": count, "window_minutes": rule.window_minutes, "event_type": rule.event_type}
    return Condition(rule, labels, since=since, value=count, fields=fields)


def rate_handler(catalog: Catalog, rows: EventRows) -> Effect:
    """The routing handler: the batch's plan, applied in the routing transaction."""
    groups = plan_rates(catalog, rows)

    def write(conn: Connection) -> None:
        if groups:
            apply_rates(conn, catalog, groups)

    return write


def resolve_quiet_rates(conn: Connection, catalog: Catalog, now: datetime) -> None:
    """Resolve event_rate alerts whose count over the window ending `now` is back to the
    threshold, refresh the others' count, and prune counts older than every window."""
    rules = rate_rules(catalog)
    open_by_rule = {rule.name: repository.open_alerts(conn, rule.name) for rule in rules}
    # All at once and sorted, as routing takes them: two transactions never wait in a cycle.
    repository.lock_fingerprints(
        conn, [alert.fingerprint for found in open_by_rule.values() for alert in found]
    )
    for rule in rules:
        window = timedelta(minutes=rule.window_minutes)
        for listed in open_by_rule[rule.name]:
            alert = repository.open_alert(conn, listed.fingerprint)  # as of the lock
            if alert is None:
                continue
            count = repository.window_count(conn, rule.name, alert.fingerprint, now - window, now)
            if count > rule.more_than:
                condition = _condition(rule, alert.labels, since=alert.started_at, count=count)
                raise_alert(conn, condition, now)  # refreshes its count and summary
                continue
            resolve_alert(conn, catalog, alert, at=now, reason=f"{count} in the last window")
        repository.prune_buckets(conn, rule.name, now - window)
    repository.prune_unknown_rules(conn, [rule.name for rule in rules])
