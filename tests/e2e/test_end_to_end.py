"""End to end, on a real `ct serve` and each store: the Python client and the Node client as
the backend's producers, Stripe and GitHub deliveries; every event lands exactly once; the
backend turns amber on an error burst; with CT stopped for 20 s the clients keep their events
(spooled, or retried with the same ids), and after the restart nothing is missing and nothing
is doubled — the ids sent are the ids stored. A day later (CT restarted with its clock a day
ahead) the burst has left the 24 h window and the backend is green again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from ct_producer import Backoff, Producer, report_errors

from tests.integrations.test_stripe_webhook import INVOICE, envelope, stripe_signature
from tests.pollers.fakes import make_run
from tests.servers import CTServer, create_token, free_port, listed_events, run_server

HERE = Path(__file__).resolve().parent
CLOCK_SHIFT = HERE.parent / "clock_shift"
GITHUB_SECRET = "e2e-github-secret-not-secret"
STRIPE_SECRET = "whsec_e2e_stripe_not_secret"
OUTAGE_SECONDS = 20
A_DAY_LATER = 25 * 3600
LIMITS = ("--rate-per-minute", "100000", "--burst", "100000")


class Store:
    """What CT holds, read through its API as a maintainer."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def events(self, **query: str) -> list[dict[str, Any]]:
        return listed_events(self.url, self.headers, **query)

    def system(self, system_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/systems/{system_id}", headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def wait_for_status(self, system_id: str, status: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            system = self.system(system_id)
            if system["status"] == status or time.monotonic() > deadline:
                return system
            time.sleep(0.2)


@contextmanager
def serving(env: dict[str, str], logs: Path, port: int) -> Iterator[CTServer]:
    with run_server(env, logs, port=port) as server:
        yield server


def node_producer(
    url: str, issued: dict[str, Any], prefix: str, count: int, failures: int
) -> subprocess.Popen[str]:
    node = shutil.which("node")
    assert node is not None, "the e2e suite drives the Node client with Node 20+"
    command = [node, str(HERE / "node_producer.mjs"), url, issued["token"]]
    command += [issued["hmac_secret"], prefix, str(count), str(failures)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def node_ids(process: subprocess.Popen[str]) -> list[str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    ids: list[str] = json.loads(out.strip().splitlines()[-1])["ids"]
    return ids


def stripe_event(event_type: str, event_id: str, **changes: Any) -> bytes:
    """One Stripe event, as Stripe builds it once and then delivers (and redelivers) it."""
    invoice = {**INVOICE, **changes}
    return json.dumps(envelope(event_type, invoice, event_id, int(time.time()) - 2)).encode()


def deliver_stripe(url: str, body: bytes) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, STRIPE_SECRET, int(time.time())),
    }
    return httpx.post(f"{url}/integrations/stripe", content=body, headers=headers, timeout=30)


def deliver_github(url: str, run: dict[str, Any], delivery: str) -> httpx.Response:
    document = {
        "action": "completed",
        "workflow_run": run,
        "workflow": {"id": run["workflow_id"], "name": run["name"], "path": run["path"]},
        "repository": run["repository"],
        "sender": run["actor"],
    }
    body = json.dumps(document).encode()
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return httpx.post(f"{url}/integrations/github", content=body, headers=headers, timeout=30)


def a_day_later(env: dict[str, str]) -> dict[str, str]:
    """The same environment with every Python process's clock a day ahead (on top of any
    shift the suite already runs under: tests/clock_shift)."""
    shift = int(env.get("SUITE_CLOCK_SHIFT_SECONDS", "0")) + A_DAY_LATER
    path = os.pathsep.join(filter(None, [str(CLOCK_SHIFT), env.get("PYTHONPATH")]))
    return {**env, "SUITE_CLOCK_SHIFT_SECONDS": str(shift), "PYTHONPATH": path}


def test_producers_and_integrations_end_to_end(
    server_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        **server_env,
        "CT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "CT_STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET,
    }
    python_token = create_token(env, "e2e-python", "producer", "--source", "backend", *LIMITS)
    node_token = create_token(env, "e2e-node", "producer", "--source", "backend", *LIMITS)
    reader = create_token(env, "e2e-reader", "maintainer", *LIMITS)["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = Store(url, reader)
    logs = tmp_path / "logs"
    run_tag = uuid.uuid4().hex[:8]
    producer = Producer(
        url,
        python_token["token"],
        python_token["hmac_secret"],
        source="backend",
        spool_dir=tmp_path / "spool",
        max_attempts=2,
        backoff=Backoff(initial=0.05, multiplier=2.0, maximum=0.2),
    )
    request.addfinalizer(producer.close)
    sent: list[str] = []

    def send_python(count: int, label: str) -> None:
        for number in range(count):
            payload = {"contractor_id": f"C-{number}", "period": "2026-11", "items": number}
            sent.append(producer.send("excel.timesheet.ingested", payload).event_id)
        sent.append(producer.heartbeat("backend", version=label).event_id)

    @report_errors(producer, severity="high", fn_name=f"py-{run_tag}-fn")
    def failing() -> None:
        raise RuntimeError("e2e burst")

    with serving(env, logs, port):
        send_python(20, "before")
        sent.extend(node_ids(node_producer(url, node_token, f"node-{run_tag}-a", 10, 0)))
        assert store.wait_for_status("backend", "green")["status"] == "green"

        # Swan's payment provider and GitHub, each delivery twice (their retries).
        stripe_ids = ["stripe:evt_e2e_finalized", "stripe:evt_e2e_paid"]
        finalized = stripe_event("invoice.finalized", "evt_e2e_finalized")
        paid = stripe_event("invoice.paid", "evt_e2e_paid", status="paid", paid=True)
        for body in (finalized, paid, finalized, paid):
            answer = deliver_stripe(url, body)
            assert answer.status_code in (200, 202), answer.text
        ci_run = make_run(9_000_001, repo="swan-recruitment/backend")
        for _ in range(2):
            answer = deliver_github(url, ci_run, "e2e-delivery-1")
            assert answer.status_code in (200, 202), answer.text

        # The burst: two errors reported by each client.
        for _ in range(2):
            with pytest.raises(RuntimeError):
                failing()
        node_ids(node_producer(url, node_token, f"node-{run_tag}-b", 0, 2))
        amber = store.wait_for_status("backend", "amber")
        assert amber["status"] == "amber", amber
        assert [r["objective"] for r in amber["reasons"] if r["status"] == "amber"] == [
            "errors_24h"
        ]

    # CT is down for 20 s: the Python client spools, the Node client keeps retrying.
    stopped_at = time.monotonic()
    node_late = node_producer(url, node_token, f"node-{run_tag}-c", 5, 0)
    for _ in range(15):
        result = producer.send("system.heartbeat", {"system_id": "backend", "version": "down"})
        assert result.spooled, result
        assert not result.delivered, result
        sent.append(result.event_id)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
    assert node_late.poll() is None, "the Node client gave up while CT was down"

    with serving(env, logs, port):
        report = producer.flush()
        assert report.remaining == 0, report
        sent.extend(node_ids(node_late))

        backend = store.events(source="backend")
        stored = [e["event_id"] for e in backend if e["type"] != "backend.fn.error"]
        assert sorted(stored) == sorted(sent)  # nothing missing, nothing doubled
        assert len(set(sent)) == len(sent)
        errors = [e for e in backend if e["type"] == "backend.fn.error"]
        names = sorted(e["payload"]["fn_name"] for e in errors)
        assert names == [f"node-{run_tag}-b-fn"] * 2 + [f"py-{run_tag}-fn"] * 2
        finance = [e["event_id"] for e in store.events(source="finance")]
        assert sorted(finance) == stripe_ids
        ci = store.events(source="github")
        assert [e["type"] for e in ci] == ["ci.workflow.failed"]
        assert ci[0]["payload"]["repo"] == "swan-recruitment/backend"

    # A day later the burst is out of the 24 h window; a fresh heartbeat makes it green.
    later = a_day_later(env)
    with serving(later, logs, port):
        heartbeat = send_heartbeat_cli(url, python_token, later)
        assert heartbeat["status_code"] == 202, heartbeat
        green = store.wait_for_status("backend", "green")
        assert green["status"] == "green", green
        assert {e["event_id"] for e in store.events(source="backend")} >= set(sent)


def send_heartbeat_cli(url: str, issued: dict[str, Any], env: dict[str, str]) -> Any:
    """`ct-producer send` in a process whose clock is the server's (a day ahead)."""
    command: list[str] = [sys.executable, "-m", "ct_producer", "send", "--type"]
    command += ["system.heartbeat", "--source", "backend", "--payload"]
    command += [json.dumps({"system_id": "backend", "version": "next-day"}), "--url", url]
    child_env = {**env, "CT_TOKEN": issued["token"], "CT_SECRET": issued["hmac_secret"]}
    done = subprocess.run(
        command, env=child_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
