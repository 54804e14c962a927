"""The shared signing vector (clients/test-vectors/signing.json) is what the server computes.

Both producer clients check their signatures against the same file (the Python client in
tests/clients/test_python_client_units.py, the Node client in clients/node/test/); this test
keeps the file honest against `control_tower.kit.signing`, the code that verifies signatures.

To add a case, add its inputs to the file with any "signature", then regenerate with
`.venv/bin/python -m tests.clients.test_signing_vector` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from control_tower.kit.signing import sign, signature_matches

VECTOR = Path(__file__).resolve().parents[2] / "clients" / "test-vectors" / "signing.json"


def load() -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(VECTOR.read_text(encoding="utf-8"))
    return vector


def expected(case: dict[str, Any]) -> str:
    return sign(case["secret"], case["body"].encode("utf-8"), case.get("timestamp"))


def test_every_signature_is_the_servers() -> None:
    cases = load()["cases"]
    assert len(cases) >= 5
    for case in cases:
        assert case["signature"] == expected(case), case["name"]


def test_the_server_accepts_each_signature_and_refuses_it_on_other_bytes() -> None:
    for case in load()["cases"]:
        body, timestamp = case["body"].encode("utf-8"), case.get("timestamp")
        assert signature_matches(case["secret"], body, case["signature"], timestamp)
        assert not signature_matches(case["secret"], body + b" ", case["signature"], timestamp)


def test_the_vector_covers_what_producers_get_wrong() -> None:
    cases = load()["cases"]
    assert any(c.get("timestamp") for c in cases)
    assert any(not c.get("timestamp") for c in cases)
    assert any(not c["body"].isascii() for c in cases), "a body with non-ASCII UTF-8"
    assert any(not c["secret"].isascii() for c in cases), "a secret with non-ASCII UTF-8"
    assert any("\n" in c["body"] for c in cases), "a body with a newline"
    assert len({c["name"] for c in cases}) == len(cases)


def regenerate() -> None:
    vector = load()
    for case in vector["cases"]:
        case["signature"] = expected(case)
    text = json.dumps(vector, indent=2, ensure_ascii=False) + "\n"
    VECTOR.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {len(vector['cases'])} cases to {VECTOR}\n")


if __name__ == "__main__":
    regenerate()
