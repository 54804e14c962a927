"""The catalogue's `alert_rules` section: when CT raises an alert, how loud, and to whom.

Five kinds, told apart by `kind`: `event_rate` (more than N events of a type, matching payload
values, within a window), `system_status` (a system red, or amber or worse, for longer than N
minutes), `dlq_depth` (more than N dead events), `run_failed` (the latest run of a trigger
failed) and `backup_missed` (no backup for N hours). Every rule has a severity, the channels
its notifications go to, a summary template, a runbook link, and Alertmanager's timing:
`group_wait`, `group_interval`, `repeat_interval` and `send_resolved` (docs/alerts.md).
Self-contained (no import of catalog.model) so the model can import it without a cycle.
"""

from __future__ import annotations

import string
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from control_tower.catalog.types import Strict
from control_tower.kit.durations import Duration

RULE_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
Severity = Literal["info", "warning", "error", "critical"]
# Labels an event_rate rule can group by besides `payload.<field>`.
EVENT_LABELS = ("system", "source")
# Template fields every kind offers.
COMMON_FIELDS = frozenset({"rule", "severity", "value", "threshold"})


class _RuleBase(Strict):
    name: str = Field(pattern=RULE_NAME, description="Unique rule name; alerts carry it.")
    description: str = ""
    severity: Severity = Field(
        default="error", description="info|warning|error|critical (PagerDuty's severities)."
    )
    channels: list[str] = Field(
        default_factory=list, description="Names of catalogue channels its notifications use."
    )
    summary: str | None = Field(
        default=None,
        max_length=1024,
        description="A str.format template over the alert's labels and counts; "
        "None gives the kind's default.",
    )
    runbook_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="What to do; in every notification."
    )
    group_wait: Duration = Field(
        default=timedelta(seconds=30), description="Wait before the first notification."
    )
    group_interval: Duration = Field(
        default=timedelta(minutes=5),
        description="Least time between notifications about changes (resolve, re-firing).",
    )
    repeat_interval: Duration = Field(
        default=timedelta(hours=4), description="Reminder while still firing, unacknowledged."
    )
    send_resolved: bool = Field(default=True, description="Notify when the alert resolves.")

    default_summary: ClassVar[str] = "{rule}: {value}"
    template_fields: ClassVar[frozenset[str]] = frozenset()

    def summary_template(self) -> str:
        return self.summary if self.summary is not None else self.default_summary

    def allowed_fields(self) -> frozenset[str]:
        return COMMON_FIELDS | self.template_fields

    @model_validator(mode="after")
    def _template_names_known_fields(self) -> _RuleBase:
        allowed = self.allowed_fields()
        try:
            parsed = list(string.Formatter().parse(self.summary_template()))
        except ValueError as exc:
            raise ValueError(f"summary is not a valid template: {exc}") from exc
        for _text, field, _spec, _conversion in parsed:
            if field is None:
                continue
            if not field.isidentifier() or field not in allowed:
                raise ValueError(
                    f"summary names {{{field}}}; this kind offers {', '.join(sorted(allowed))}"
                )
        return self


class EventRateRule(_RuleBase):
    """More than `more_than` events of `event_type` whose payload matches `match`, within
    `window_minutes`, per group (by default per system)."""

    kind: Literal["event_rate"]
    event_type: str
    match: dict[str, list[str | int | bool]] = Field(
        default_factory=dict,
        description="Payload field → the values that qualify (`severity: [high, critical]`).",
    )
    more_than: int = Field(ge=0, description="Fires at the (more_than + 1)th event.")
    window_minutes: int = Field(default=10, ge=1, le=1440)
    group_by: list[str] = Field(
        default_factory=lambda: ["system"],
        description="Labels that tell alerts apart: system, source, payload.<field>.",
    )

    default_summary: ClassVar[str] = (
        "{count} {event_type} events in {window_minutes} min (more than {threshold})"
    )

    @field_validator("match", mode="before")
    @classmethod
    def _scalar_to_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @field_validator("group_by")
    @classmethod
    def _known_labels(cls, value: list[str]) -> list[str]:
        for label in value:
            field = label.removeprefix("payload.")
            if label not in EVENT_LABELS and not (label.startswith("payload.") and field):
                raise ValueError(f"group_by {label!r}: use system, source or payload.<field>")
            if not field.isidentifier():
                raise ValueError(f"group_by {label!r}: a payload field name is an identifier")
        if len({label_name(label) for label in value}) != len(value):
            raise ValueError("group_by names a label twice")
        return value

    def allowed_fields(self) -> frozenset[str]:
        labels = {label_name(label) for label in self.group_by}
        return COMMON_FIELDS | {"count", "window_minutes", "event_type"} | labels


class SystemStatusRule(_RuleBase):
    """A system red (or, with `status: amber`, amber or red) for at least `for_minutes`."""

    kind: Literal["system_status"]
    status: Literal["amber", "red"] = "red"
    for_minutes: int = Field(default=5, ge=0, le=7 * 1440)
    systems: list[str] = Field(default_factory=list, description="Empty means every system.")

    default_summary: ClassVar[str] = "{system} has been {status} for {minutes} min"
    template_fields: ClassVar[frozenset[str]] = frozenset({"system", "status", "minutes"})

    def statuses(self) -> frozenset[str]:
        return frozenset({"red"} if self.status == "red" else {"amber", "red"})


class DlqDepthRule(_RuleBase):
    """More than `more_than` events in the dead-letter queue."""

    kind: Literal["dlq_depth"]
    more_than: int = Field(default=0, ge=0)

    default_summary: ClassVar[str] = "{depth} dead events in the DLQ (more than {threshold})"
    template_fields: ClassVar[frozenset[str]] = frozenset({"depth"})


class RunFailedRule(_RuleBase):
    """The latest finished run of a trigger failed; resolves when a later run succeeds."""

    kind: Literal["run_failed"]
    triggers: list[str] = Field(default_factory=list, description="Empty means every trigger.")

    default_summary: ClassVar[str] = "run {run_id} of {trigger} failed"
    template_fields: ClassVar[frozenset[str]] = frozenset({"trigger", "system", "run_id"})


class BackupMissedRule(_RuleBase):
    """No successful backup for `hours` (read from the backups feature's table)."""

    kind: Literal["backup_missed"]
    hours: int = Field(default=26, ge=1, le=24 * 31)

    default_summary: ClassVar[str] = "no backup for {hours} h (last: {last_backup_at})"
    template_fields: ClassVar[frozenset[str]] = frozenset({"hours", "last_backup_at"})


AnyAlertRule = EventRateRule | SystemStatusRule | DlqDepthRule | RunFailedRule | BackupMissedRule
AlertRule = Annotated[AnyAlertRule, Field(discriminator="kind")]


def label_name(group_by: str) -> str:
    """The label a `group_by` entry gives: `payload.fn_name` → `fn_name`."""
    return group_by.removeprefix("payload.")


Problems = list[tuple[tuple[Any, ...], str]]


def alert_rule_problems(data: Any) -> Problems:
    """What the rules refer to must exist (read from the raw mapping, like the model's own
    checks): unique names, event types, match fields, systems, triggers, and channels when
    the catalogue declares any (until it does, notifications are only recorded)."""
    rules = _entries(data, "alert_rules")
    problems: Problems = []
    seen: set[str] = set()
    for i, rule in rules:
        name = rule.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append((("alert_rules", i, "name"), f"duplicate name {name!r}"))
            seen.add(name)
    names = {section: _names(data, section, key) for section, key in _SECTIONS.items()}
    types = {e.get("type"): e for _, e in _entries(data, "event_types")}
    for i, rule in rules:
        kind = rule.get("kind")
        if names["channels"]:
            problems += _unknown(rule, i, "channels", names["channels"], "channel")
        if kind == "system_status":
            problems += _unknown(rule, i, "systems", names["systems"], "system")
        if kind == "run_failed":
            problems += _unknown(rule, i, "triggers", names["triggers"], "trigger")
        if kind == "event_rate":
            problems += _event_type_problems(rule, i, types)
    return problems


_SECTIONS = {"channels": "name", "systems": "id", "triggers": "name"}


def _event_type_problems(rule: dict[str, Any], i: int, types: dict[Any, Any]) -> Problems:
    event_type = rule.get("event_type")
    if not isinstance(event_type, str):
        return []
    declared = types.get(event_type)
    if declared is None:
        return [(("alert_rules", i, "event_type"), f"unknown event type {event_type!r}")]
    schema = declared.get("payload_schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    match = rule.get("match")
    if not isinstance(properties, dict) or not isinstance(match, dict):
        return []
    return [
        (("alert_rules", i, "match", field), f"{event_type} payloads have no field {field!r}")
        for field in match
        if field not in properties
    ]


def _unknown(rule: dict[str, Any], i: int, key: str, known: set[Any], what: str) -> Problems:
    refs = rule.get(key)
    return [
        (("alert_rules", i, key, j), f"unknown {what} {ref!r}")
        for j, ref in enumerate(refs if isinstance(refs, list) else [])
        if isinstance(ref, str) and ref not in known
    ]


def _names(data: Any, section: str, key: str) -> set[Any]:
    return {entry.get(key) for _, entry in _entries(data, section)}


def _entries(data: Any, section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]
