"""The redaction policy: mask personal data in payloads before anything is stored or logged.

Two rules, applied to every string at any depth: a field whose *name* says it holds personal
data is masked whole; any other string has the *values* that look like personal data (emails,
UK phone numbers, NI numbers, sort codes, bank account numbers, IBANs, postcodes) masked in place.
The paths of masked fields are returned so the event records what was removed.
"""

from __future__ import annotations

import re
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


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _personal_key(key: str) -> bool:
    snake = key if key.islower() else _CAMEL_HUMP.sub(r"_\1", key).lower()
    return snake.replace("-", "_") in _PERSONAL_FIELD_NAMES


# All value patterns as one alternation: one pass over each string masks whatever matches.
_PERSONAL_VALUE = re.compile(
    "|".join(
        f"(?i:{p.pattern})" if p.flags & re.IGNORECASE else f"(?:{p.pattern})"
        for p in _VALUE_PATTERNS
    )
)


# Every value pattern needs a digit or an "@": text with neither (most values: function
# names, severities, messages) cannot match, and this check costs a tenth of the patterns.
_MAY_BE_PERSONAL = re.compile(r"[\d@]")


def _mask_values(text: str) -> str:
    if _MAY_BE_PERSONAL.search(text) is None:
        return text
    return _PERSONAL_VALUE.sub(MASK, text)


def _child(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _redact(value: Any, path: str, masked: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _personal_key(str(key)) and item not in (None, ""):
                masked.append(_child(path, key))
                out[key] = MASK
            elif isinstance(item, str):  # the common leaf, without building its path
                cleaned = _mask_values(item)
                if cleaned != item:
                    masked.append(_child(path, key))
                out[key] = cleaned
            else:
                out[key] = _redact(item, _child(path, key), masked)
        return out
    if isinstance(value, list):
        return [_redact(item, f"{path}[{i}]", masked) for i, item in enumerate(value)]
    if isinstance(value, str):
        cleaned = _mask_values(value)
        if cleaned != value:
            masked.append(path or "(value)")
        return cleaned
    return value


def redact(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A masked copy of the payload and the paths that were masked."""
    masked: list[str] = []
    cleaned = _redact(payload, "", masked)
    return cleaned, masked
