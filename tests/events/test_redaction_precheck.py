"""The redaction pre-check only skips strings that no value pattern would change."""

from __future__ import annotations

import pytest

from control_tower.events.redaction import (
    _VALUE_PATTERNS,
    MASK,
    _mask_values,
    _needs_masking,
    _redact,
    redact,
)


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
        # Strings are checked joined: digits or parts of a value split across strings match
        # the pre-check, never a value pattern.
        {"a": "1", "b": "2"},
        {"a": "07700", "b": "900123"},
        {"a": "jane", "b": "@example.com"},
        {"a": "12-34", "b": "-56", "c": ["SW1A", "1AA"]},
        {"a": "x", "b": {"c": "call 07700 900123"}},
        {"a": "sort 12-34-56", "b": "plain"},
        "sort 12-34-56",
        ["v2", {"iban": "GB29 NWBK 6016 1331 9268 19"}],
        # The same keys, empty and then not: the per-key-set cache decides names, not values.
        {"email": "", "id": "1"},
        {"email": "x", "id": "1"},
        {"note": "a\x00b"},
    ],
)
def test_the_payload_is_returned_as_is_exactly_when_nothing_is_masked(
    payload: object,
) -> None:
    if not isinstance(payload, dict):  # a top-level list or string: the walk underneath
        full = []
        assert (_redact(payload, "", full) != payload) == _needs_masking(payload) == bool(full)
        return
    cleaned, masked = redact(payload)
    full: list[str] = []
    assert _redact(payload, "", full) == cleaned  # the same result as the full walk
    assert masked == full
    assert (cleaned is payload) == (not masked)
