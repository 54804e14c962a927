"""The `alert_rules` section: every kind parses (the default catalogue's commented examples
too), and what a rule refers to must exist, reported with its path."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from control_tower.catalog import CatalogError
from control_tower.catalog.alert_rules import (
    BackupMissedRule,
    DlqDepthRule,
    EventRateRule,
    RunFailedRule,
    SystemStatusRule,
)
from control_tower.catalog.loader import default_catalog_text, parse_catalog
from control_tower.kit.durations import format_duration, parse_duration
from tests.alerts.conftest import catalog_with

PAGER = {"name": "pager", "kind": "pagerduty", "routing_key_env": "CT_TEST_PD_KEY"}


def test_the_default_rule_is_the_work_orders_page(catalog: Any) -> None:
    [rule] = catalog.alert_rules
    assert isinstance(rule, EventRateRule)
    assert (rule.event_type, rule.more_than, rule.window_minutes) == ("backend.fn.error", 3, 10)
    assert rule.match == {"severity": ["high", "critical"]}
    assert rule.severity == "critical"
    assert rule.group_wait == timedelta(seconds=30)
    assert rule.group_interval == timedelta(minutes=5)
    assert rule.repeat_interval == timedelta(hours=4)
    assert rule.send_resolved is True


def test_the_commented_examples_of_every_kind_parse_once_uncommented() -> None:
    lines = default_catalog_text().splitlines()
    text = "\n".join(re.sub(r"^(\s*)# (\s*(?:- )?[a-z_]+:)", r"\1\2", line) for line in lines)
    catalog = parse_catalog(text, "(uncommented)")
    kinds = {type(rule) for rule in catalog.alert_rules}
    assert kinds == {EventRateRule, SystemStatusRule, DlqDepthRule, RunFailedRule,
                     BackupMissedRule}  # fmt: skip
    assert {c.name for c in catalog.channels} >= {"pager", "ops-email", "ops-slack"}


@pytest.mark.parametrize(
    ("rule", "channels", "message"),
    [
        ({"kind": "event_rate", "event_type": "nope.type", "more_than": 1}, [],
         "alert_rules[1].event_type: unknown event type 'nope.type'"),
        ({"kind": "event_rate", "event_type": "backend.fn.error", "more_than": 1,
          "match": {"sevrity": ["high"]}}, [],
         "alert_rules[1].match.sevrity: backend.fn.error payloads have no field 'sevrity'"),
        ({"kind": "system_status", "systems": ["nope"]}, [],
         "alert_rules[1].systems[0]: unknown system 'nope'"),
        ({"kind": "run_failed", "triggers": ["no.such"]}, [],
         "alert_rules[1].triggers[0]: unknown trigger 'no.such'"),
        ({"kind": "dlq_depth", "channels": ["pager", "sms"]}, [PAGER],
         "alert_rules[1].channels[1]: unknown channel 'sms'"),
        ({"kind": "dlq_depth", "name": "backend-fn-errors"}, [],
         "alert_rules[1].name: duplicate name 'backend-fn-errors'"),
        ({"kind": "dlq_depth", "summary": "{depth} dead, {fn_name}"}, [],
         "summary names {fn_name}"),
        ({"kind": "dlq_depth", "summary": "{depth.__class__}"}, [], "summary names"),
        ({"kind": "event_rate", "event_type": "backend.fn.error", "more_than": 1,
          "group_by": ["region"]}, [], "group_by 'region'"),
        ({"kind": "dlq_depth", "group_wait": "soon"}, [], "not a duration"),
        ({"kind": "dlq_depth", "severity": "page"}, [], "alert_rules[1].dlq_depth.severity"),
        ({"kind": "page_me"}, [], "alert_rules[1]"),
    ],
)  # fmt: skip
def test_bad_rules_are_reported_with_their_path(
    rule: dict[str, Any], channels: list[dict[str, Any]], message: str
) -> None:
    default = catalog_with(None).alert_rules[0].model_dump(mode="json", exclude_none=True)
    with pytest.raises(CatalogError) as caught:
        catalog_with([default, {"name": "extra", **rule}], channels)
    path, _, text = message.partition(": ")  # the report puts the line between them
    assert path in str(caught.value)
    assert text in str(caught.value)


def test_rule_channels_are_checked_only_once_the_catalogue_declares_channels() -> None:
    rule = {"name": "d", "kind": "dlq_depth", "channels": ["pager"]}
    assert catalog_with([rule]).alert_rules[0].channels == ["pager"]  # recorded, not sent
    assert catalog_with([rule], [PAGER]).alert_rules[0].channels == ["pager"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("4h", 14_400), ("1h30m", 5_400), ("2d", 172_800),
     ("1w", 604_800), (45, 45), ("0s", 0)],
)  # fmt: skip
def test_durations(text: Any, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_durations_refused_and_written_back() -> None:
    for bad in ("", "5", "m5", "5 minutes", "-5m", True):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
