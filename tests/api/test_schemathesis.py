"""Schemathesis against a real `ct serve`, on each store, with an owner's and a viewer's token.

Requests are generated per operation from the document the server serves, valid ones and ones
the document says are invalid, and each is sent once with each token. Every answer must be no
5xx, a status the document lists for that operation, with the documented content type and
headers, and a body that fits its schema; and no invalid request may be accepted.

Schemathesis's own pytest runner (`schemathesis.pytest.from_fixture`) fails on this pytest
(it sets `node._nodeid`, which pytest 9 no longer has), so each operation's cases are drawn
from its Hypothesis strategy (`APIOperation.as_strategy`) and checked with `call_and_validate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import Emit
from tests.servers import CTServer, create_token, run_server

SEED = 15
MAX_EXAMPLES = 25  # per operation, each sent with both tokens
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Operations no generated request can pass authentication for, fuzzed elsewhere:
EXCLUDED = {
    # Each body must carry an HMAC of itself with the producer's secret:
    # tests/api/test_ingest_fuzz.py fuzzes these signed.
    "POST /events",
    "POST /events/batch",
    # GitHub's and Stripe's HMAC of the body with the webhook secret (unset here, so they
    # answer 503): tests/integrations/ sends them signed deliveries.
    "POST /integrations/github",
    "POST /integrations/stripe",
}
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            # Unknown query parameters are ignored, as HTTP APIs do: not invalid requests.
            "allow-extra-parameters": True,
            # The token is the test's to send (each case goes out with each role's).
            "with-security-parameters": False,
        }
    }
)
UNLIMITED = ("--rate-per-minute", "1000000", "--burst", "1000000")


@dataclass
class LiveApi:
    server: CTServer
    tokens: dict[str, str]  # role → bearer token


@pytest.fixture
def live_api(server_env: dict[str, str], tmp_path: Path, emit: Emit) -> Iterator[LiveApi]:
    """`ct serve` on this test's store, with some events and a run with a note to list."""
    env = {
        **server_env,
        # Runs stay queued: no trigger target is ever called, and none off this machine.
        "CT_WORKER_ENABLED": "false",
        "CT_TRIGGER_TARGET_BASE_URL": "http://127.0.0.1:9",
    }
    tokens = {
        role: create_token(env, f"fuzz-{role}", role, *UNLIMITED)["token"]
        for role in ("owner", "viewer")
    }
    for number in range(3):
        payload = {"fn_name": f"fn{number}", "severity": "high", "stack_ref": "logs/1"}
        emit("backend.fn.error", "backend", payload)
    with run_server(env, tmp_path / "logs") as server:
        with server.client(headers={"Authorization": f"Bearer {tokens['owner']}"}) as client:
            started = client.post(
                "/triggers/contract.regenerate", json={"inputs": {"contract_id": "c-15"}}
            )
            assert started.status_code == 202, started.text
            noted = client.post(f"/runs/{started.json()['run_id']}/notes", json={"text": "hi"})
            assert noted.status_code == 201, noted.text
        yield LiveApi(server, tokens)


def operations(live_api: LiveApi) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(
        f"{live_api.server.base_url}/openapi.json", config=CONFIG
    )
    found = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in found}
    assert labels >= EXCLUDED, "an excluded operation is gone: update EXCLUDED"
    return [operation for operation in found if operation.label not in EXCLUDED]


def fuzz(operation: APIOperation, tokens: list[str]) -> None:
    """Valid and invalid requests for one operation, the same ones on every run."""
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @seed(SEED)
    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def each(case: Case) -> None:
        for token in tokens:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    each()


def test_every_answer_is_documented_and_fits_its_schema(live_api: LiveApi) -> None:
    found = operations(live_api)
    assert len(found) >= 10
    failures = []
    for operation in found:
        try:
            fuzz(operation, list(live_api.tokens.values()))
        except Exception as exc:  # Hypothesis raises the smallest failing case's error
            failures.append(f"{operation.label}: {exc}")
    assert failures == [], "\n\n".join(failures)
