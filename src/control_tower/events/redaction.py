"""The redaction policy: mask personal data in payloads before anything is stored or logged.

Two rules, applied to every string at any depth: a field whose *name* says it holds personal
data is masked whole; any other string has the *values* that look like personal data (emails,
UK phone numbers, NI numbers, sort codes, bank account numbers, IBANs, postcodes) masked in place.
The paths of masked fields are returned so the event records what was removed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MASK = "[REDACTED]"

_PERSONAL_FIELD_NAMES = {
    "email", "email_address", "phone", "phone_number", "mobile", "telephone",
    "name", "full_name", "first_name", "last_name", "surname", "given_name",
    "address", "street", "address_line1", "address_line2", "postcode", "post_code", "zip",
    "ni_number", "national_insurance", "national_insurance_number", "nino",
    "sort_code", "account_number", "bank_account", "iban", "date_of_birth", "dob",
    "password", "secret", "token",
}  # fmt: skip

_VALUE_PATTERNS = [
    re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    # NI number: two letters, six digits, A-D (spaces allowed).
    re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b", re.IGNORECASE),
    re.compile(r"\bGB\d{2}\s?[A-Z]{4}(?:\s?\d{4}){3}\s?\d{2}\b"),
    # UK phone numbers: +44 or 0 followed by 9-10 digits, spaces allowed.
    re.compile(r"(?<![\w+])(?:\+44\s?|0)\d(?:\s?\d){8,9}\b"),
    re.compile(r"\b\d{2}-\d{2}-\d{2}\b"),
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"),
]


# Every value pattern needs an "@" (emails) or at least two digits (postcodes two, the others
# six or more): a string with neither is skipped at the cost of one cheap search (the
# alternation below tries six patterns at every position). Ids like "logs/1" or "v2" pass here.
_MAYBE_PERSONAL = re.compile(r"@|\d\D*\d")
# One pass over a string says whether any value pattern can match; most strings have none.
_ANY_VALUE_PATTERN = re.compile(
    "|".join(
        f"(?i:{p.pattern})" if p.flags & re.IGNORECASE else f"(?:{p.pattern})"
        for p in _VALUE_PATTERNS
    )
)


@lru_cache(maxsize=4096)
def _personal_key(key: str) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return snake.lower().replace("-", "_") in _PERSONAL_FIELD_NAMES


def _may_hold_personal_value(text: str) -> bool:
    return _MAYBE_PERSONAL.search(text) is not None and _ANY_VALUE_PATTERN.search(text) is not None


def _mask_values(text: str) -> str:
    if not _may_hold_personal_value(text):
        return text
    for pattern in _VALUE_PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def _redact(value: Any, path: str, masked: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _personal_key(str(key)) and item not in (None, ""):
                masked.append(child)
                out[key] = MASK
            else:
                out[key] = _redact(item, child, masked)
        return out
    if isinstance(value, list):
        return [_redact(item, f"{path}[{i}]", masked) for i, item in enumerate(value)]
    if isinstance(value, str):
        cleaned = _mask_values(value)
        if cleaned != value:
            masked.append(path or "(value)")
        return cleaned
    return value


@lru_cache(maxsize=4096)
def _personal_keys(keys: tuple[Any, ...]) -> tuple[Any, ...]:
    # Payloads of a type share their keys: decide once per set of keys, not per key.
    return tuple(key for key in keys if _personal_key(str(key)))


def _needs_masking(value: Any) -> bool:
    """Whether `_redact` would change anything: the same rules, without copying or paths.

    Every string is checked in one search over all of them joined by NUL, which no value
    pattern matches: a match of the joined text is a match inside one string, with the same
    word boundaries as alone (`test_redaction_precheck.py`)."""
    strings: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key in _personal_keys(tuple(item)):
                if item[key] not in (None, ""):
                    return True
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str):
                strings.append(item)
            continue
        for child in children:
            if isinstance(child, str):
                strings.append(child)
            elif isinstance(child, dict | list):
                pending.append(child)
    return bool(strings) and _may_hold_personal_value("\x00".join(strings))


def redact(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A masked copy of the payload and the paths that were masked (the payload itself when
    nothing needs masking, as for most events: checking is cheaper than copying)."""
    if not _needs_masking(payload):
        return payload, []
    masked: list[str] = []
    cleaned = _redact(payload, "", masked)
    return cleaned, masked
