"""A trigger's form, generated from its input_schema, and the form's fields back to inputs.

Each property becomes a field: `enum` a select, `integer`/`number` a number input, `boolean` a
checkbox, `format: date` a date input, other strings a text input (a textarea past 200
characters); `required` and `maxLength` carry over. The service checks the inputs against the
schema again: the form only helps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from control_tower.catalog.triggers import Trigger
from control_tower.kit.errors import Unprocessable

FIELD_PREFIX = "in_"  # form names of inputs, apart from csrf and the idempotency key


@dataclass(frozen=True)
class FormField:
    name: str
    widget: str  # text | textarea | number | date | checkbox | select
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    step: str = "1"

    @property
    def form_name(self) -> str:
        return FIELD_PREFIX + self.name


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", "string")
    return set(kind) if isinstance(kind, list) else {str(kind)}


def form_fields(trigger: Trigger) -> list[FormField]:
    schema = trigger.input_schema
    required = set(schema.get("required", []))
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        kinds = _types(prop)
        widget, step = "text", "1"
        choices: tuple[str, ...] = ()
        if "enum" in prop:
            widget, choices = "select", tuple(str(v) for v in prop["enum"])
        elif kinds & {"integer", "number"}:
            widget, step = "number", "1" if "number" not in kinds else "any"
        elif "boolean" in kinds:
            widget = "checkbox"
        elif prop.get("format") == "date":
            widget = "date"
        elif int(prop.get("maxLength", 0)) > 200:
            widget = "textarea"
        fields.append(
            FormField(
                name=name,
                widget=widget,
                required=name in required,
                description=str(prop.get("description", "")),
                choices=choices,
                max_length=prop.get("maxLength"),
                step=step,
            )
        )
    return fields


def form_inputs(trigger: Trigger, form: dict[str, str]) -> dict[str, Any]:
    """The inputs a submitted form gives (blank optional fields left out); a number that is
    not one is a 422 naming its field, like the API's schema errors."""
    inputs: dict[str, Any] = {}
    problems = []
    for f in form_fields(trigger):
        raw = form.get(f.form_name)
        if f.widget == "checkbox":
            if raw is not None or f.required:
                inputs[f.name] = raw is not None
            continue
        if raw is None or raw.strip() == "":
            continue
        value = raw.strip()
        if f.widget == "number":
            try:
                inputs[f.name] = int(value) if f.step == "1" else float(value)
            except ValueError:
                problems.append({"field": f"inputs.{f.name}", "message": "not a number"})
            continue
        inputs[f.name] = value
    if problems:
        raise Unprocessable("invalid inputs: " + ", ".join(p["field"] for p in problems),
                            details=problems)  # fmt: skip
    return inputs


def as_form(inputs: dict[str, Any]) -> dict[str, str]:
    """Inputs back to form values (the preview's confirm form carries them as hidden fields)."""
    out = {}
    for name, value in inputs.items():
        if isinstance(value, bool):
            if value:
                out[FIELD_PREFIX + name] = "on"
        else:
            out[FIELD_PREFIX + name] = str(value)
    return out
