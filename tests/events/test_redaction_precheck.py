"""The redaction pre-check only skips strings that no value pattern would change."""

from __future__ import annotations

import pytest

from control_tower.events.redaction import _VALUE_PATTERNS, MASK, _mask_values


def every_pattern_in_turn(text: str) -> str:
    for pattern in _VALUE_PATTERNS:
        text = pattern.sub(MASK, text)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "generateInvoice",
        "logs/1",
        "jane.doe@example.co.uk",
        "call 07700 900123 today",
        "+44 7700 900123",
        "ni ab123456c here",
        "AB 12 34 56 C",
        "sort 12-34-56",
        "GB29 NWBK 6016 1331 9268 19",
        "SW1A 1AA",
        "sw1a 1aa",
        "2026-11-26T09:59:00Z",
        "INV-2026-0042",
        "run 12345678901",
    ],
)
def test_pre_check_changes_nothing(text: str) -> None:
    assert _mask_values(text) == every_pattern_in_turn(text)
