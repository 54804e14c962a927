"""The catalogue's triggers section: defaults, shape checks and reference checks."""

from __future__ import annotations

from datetime import time

import pytest

from control_tower.auth.roles import Role
from control_tower.catalog import CatalogError, load_default_catalog
from control_tower.catalog.loader import default_catalog_text, parse_catalog


def test_the_work_order_triggers_are_the_defaults() -> None:
    catalog = load_default_catalog()
    assert [t.name for t in catalog.triggers] == [
        "contract.regenerate",
        "finance.export.backfill",
        "portal.notify.retry",
    ]
    regenerate = catalog.trigger("contract.regenerate")
    assert regenerate is not None
    assert regenerate.required_role is Role.operator
    assert regenerate.input_schema["required"] == ["contract_id"]
    backfill = catalog.trigger("finance.export.backfill")
    assert backfill is not None
    window = backfill.guards.finance_window
    assert window is not None
    assert (window.days, window.start, window.end, window.tz) == (
        ["mon", "tue", "wed", "thu", "fri"],
        time(7, 0),
        time(19, 0),
        "Europe/London",
    )
    assert backfill.guards.rate_limit is not None
    assert backfill.input_schema["properties"]["from_date"]["format"] == "date"
    notify = catalog.trigger("portal.notify.retry")
    assert notify is not None
    assert notify.retry.max_attempts > 1
    assert catalog.trigger("nope") is None


def _with_triggers(block: str) -> str:
    return default_catalog_text().split("\ntriggers:\n")[0] + "\ntriggers:\n" + block


def test_a_trigger_must_target_a_known_system() -> None:
    text = _with_triggers(
        "  - name: a.b\n    target: {system: mainframe, action: go, url: 'http://x.internal/go'}\n"
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "test.yaml")
    [problem] = info.value.problems
    assert problem.path == "triggers[0].target.system"
    assert "mainframe" in problem.message
    assert problem.line is not None


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("    required_role: viewer\n", "triggers[0].required_role"),
        (
            "    guards: {finance_window: {days: mon-xyz}}\n",
            "triggers[0].guards.finance_window.days",
        ),
        ("    guards: {finance_window: {start: '19:00', end: '07:00'}}\n", "triggers[0].guards"),
        ("    guards: {finance_window: {tz: Mars/Olympus}}\n", "triggers[0].guards"),
        ("    input_schema: {type: array}\n", "triggers[0].input_schema"),
        ("    retry: {max_attempts: 0}\n", "triggers[0].retry.max_attempts"),
        ("    guards: {weekends_only: true}\n", "triggers[0].guards.weekends_only"),
    ],
)
def test_bad_trigger_entries_are_reported_with_their_path(extra: str, where: str) -> None:
    text = _with_triggers(
        "  - name: a.b\n"
        "    target: {system: finance, action: go, url: 'http://x.internal/go'}\n" + extra
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "test.yaml")
    assert any(p.path.startswith(where) for p in info.value.problems), info.value.problems
