"""The redaction pre-check only skips strings that no value pattern would change."""

from __future__ import annotations

import pytest

from control_tower.events.redaction import _VALUE_PATTERNS, MASK, _mask_values, _redact, redact


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
        "M1 1AE",  # the fewest digits a value pattern needs: two
        "v2",
        "sw1a 1aa",
        "2026-11-26T09:59:00Z",
        "INV-2026-0042",
        "run 12345678901",
        "plain words only",
        "a@b",
        "٠٧٧٠٠ ٩٠٠١٢٣",  # Arabic-Indic digits: \d matches them in the patterns and the pre-check
        "０７７００ ９００１２３",  # fullwidth digits
    ],
)
def test_pre_check_changes_nothing(text: str) -> None:
    assert _mask_values(text) == every_pattern_in_turn(text)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "logs/1"},
        {"email": "", "name": None, "count": 3},  # empty personal fields are not masked
        {"contact": {"Email": "x"}},
        {"items": [{"note": "call 07700 900123"}]},
        {"items": [[{"firstName": "Jane"}]]},
        {"phoneNumber": 0},
        {"ok": [1, 2.5, True, None, "INV-2026-0042"]},
    ],
)
def test_the_payload_is_returned_as_is_exactly_when_nothing_is_masked(
    payload: dict[str, object],
) -> None:
    cleaned, masked = redact(payload)
    full: list[str] = []
    assert _redact(payload, "", full) == cleaned  # the same result as the full walk
    assert masked == full
    assert (cleaned is payload) == (not masked)
