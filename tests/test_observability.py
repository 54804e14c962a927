"""JSON logs, request and correlation ids, /metrics, /healthz and /readyz."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from control_tower.app import create_app
from control_tower.auth.roles import Role
from control_tower.observability.logging import configure_logging
from control_tower.settings import Settings
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import Producer, Staff, make_event


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging is process-wide: undo it so later tests (CLI JSON output) stay clean."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    logging.getLogger("uvicorn.access").disabled = False
    structlog.reset_defaults()


def access_line(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    [line] = [
        entry
        for entry in lines
        if entry.get("logger") == "control_tower.access" and entry.get("request_id") == request_id
    ]
    return line


def test_log_lines_carry_ids_and_never_secrets_or_payload_values(
    client: TestClient, producer: Producer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_logs=True)
    capsys.readouterr()
    payload = {"fn_name": "renderPayrollZeta", "severity": "high", "stack_ref": "jane@example.com"}
    event = make_event(event_id="obs-1", correlation_id="corr-obs-1", payload=payload)
    body, headers = producer.signed(event)
    answer = client.post("/events", content=body, headers={**headers, "X-Request-ID": "req-obs-1"})
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-request-id"] == "req-obs-1"

    bad = make_event(event_id="obs-2", payload={"fn_name": "renderPayrollZeta", "severity": "x"})
    body2, headers2 = producer.signed(bad)
    refused = client.post("/events", content=body2, headers=headers2)
    assert refused.status_code == 422
    generated = refused.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)

    injected = client.get("/healthz", headers={"X-Request-ID": "evil id\\n{}"})
    assert injected.headers["x-request-id"] != "evil id\\n{}"

    out = capsys.readouterr().out
    lines = json_lines(out)
    accepted = access_line(lines, "req-obs-1")
    assert accepted["correlation_id"] == "corr-obs-1"
    assert accepted["status"] == 202
    assert accepted["route"] == "/events"
    assert accepted["principal"] == producer.issued.name
    assert access_line(lines, generated)["status"] == 422
    for secret in (
        producer.token,
        producer.secret,
        TEST_MASTER_KEY,
        headers["X-CT-Signature"].removeprefix("sha256="),
        "renderPayrollZeta",
        "jane@example.com",
    ):
        assert secret not in out


def test_metrics_count_ingest_by_source_type_outcome(
    client: TestClient, producer: Producer, staff: Staff
) -> None:
    body, headers = producer.signed(make_event(event_id="metric-1"))
    assert client.post("/events", content=body, headers=headers).status_code == 202
    assert client.post("/events", content=body, headers=headers).status_code == 200
    bad, bad_headers = producer.signed(make_event(event_id="metric-2", payload={}))
    assert client.post("/events", content=bad, headers=bad_headers).status_code == 422

    assert client.get("/metrics").status_code == 401
    assert (
        client.get("/metrics", headers={"Authorization": f"Bearer {producer.token}"}).status_code
        == 403
    )
    answer = client.get("/metrics", headers=staff.headers(Role.viewer))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    for outcome in ("accepted", "duplicate", "rejected"):
        labels = {"source": "backend", "type": "backend.fn.error", "outcome": outcome}
        assert samples[("ct_events_ingested_total", tuple(sorted(labels.items())))] == 1.0
    single = (("endpoint", "single"),)
    assert samples[("ct_ingest_latency_seconds_count", single)] == 3.0
    assert samples[("ct_ingest_latency_seconds_bucket", (*single, ("le", "+Inf")))] == 3.0
    assert samples[("ct_ingest_latency_seconds_sum", single)] > 0


def test_health_and_readiness_need_no_token(client: TestClient) -> None:
    alive = client.get("/healthz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def unreachable_urls(backend: str, tmp_path: Path) -> list[str]:
    if backend == "sqlite":
        folder = tmp_path / "a-folder-not-a-file"
        folder.mkdir()
        return [f"sqlite:///{folder}"]
    from tests.conftest import PG_ADMIN_DSN

    server = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    return [
        f"postgresql+psycopg://{server}/ct_no_such_database",
        "postgresql+psycopg://postgres@127.0.0.1:1/ct",  # nothing listens on port 1
    ]


def test_readyz_is_503_when_the_store_is_unreachable(backend: str, tmp_path: Path) -> None:
    for url in unreachable_urls(backend, tmp_path):
        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key="k")
        with TestClient(create_app(settings, migrate=False)) as client:
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 503, url
            assert ready.json()["status"] == "unavailable"


def test_log_lines_are_json_with_utc_timestamps_and_no_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json_logs=True)
    capsys.readouterr()
    structlog.contextvars.bind_contextvars(request_id="req-same", correlation_id="corr-same")
    try:
        structlog.get_logger("control_tower.access").info(
            "request", route="/events", status=202, token="never-shown"
        )
    finally:
        structlog.contextvars.clear_contextvars()
    [line] = json_lines(capsys.readouterr().out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", line["timestamp"])
    assert line["token"] == "[omitted]"
    assert (line["request_id"], line["correlation_id"]) == ("req-same", "corr-same")
    assert (line["logger"], line["level"]) == ("control_tower.access", "info")


def test_log_timestamps_are_structlogs_iso_utc_text() -> None:
    """CT formats a line's date and time once a second; the text is structlog's own."""
    import time_machine
    from structlog.processors import TimeStamper

    from control_tower.observability.logging import _UtcTimestamp

    base = datetime.now(UTC)
    stamp = _UtcTimestamp()  # one stamper across the instants, as in a running process
    instants = [
        base.replace(microsecond=0),  # isoformat() writes no fraction then
        base.replace(microsecond=120034),
        base.replace(microsecond=999999),
        base.replace(microsecond=1) + timedelta(seconds=1),  # the next second
        base + timedelta(days=1),
    ]
    for instant in instants:
        with time_machine.travel(instant, tick=False):
            ours = stamp(None, "info", {})["timestamp"]
            theirs = TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
        assert ours == theirs, instant
