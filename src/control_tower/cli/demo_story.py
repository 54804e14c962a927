"""`ct demo --days N`: the work order's producers over the last N days, sent through CT's real
signed API, so every dashboard shows something true.

The story, dated from the clock: backend, portal, finance and website send heartbeats every
10 minutes (the portal was down for three hours six days ago; the website went silent two days
ago); the backend reports a few errors a day, with bursts twelve and three days ago and one
now; CI fails now and then, and `swan/portal`'s tests failed six times in a row two days ago;
finance generates invoices on weekdays (GBP, some EUR) and most are paid within days; the
portal, website and desktop send their business events; an operator starts three runs (they
succeed when CT_TRIGGER_TARGET_BASE_URL points at a target that answers, else fail after their
retries); and the backend names a system CT does not know once: a dead letter.

Events arrive now, so an event's intake latency is its age. Health judges intake latency over
the last 24 hours, so the story leaves that day out except for what happens "live", in the
last two minutes: backfilling the day would be true to the model (everything late: red) but
not to the story. The older history is outside that window and charts as it happened.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.progress import Progress

from control_tower.kit.signing import sign

HEARTBEAT_SYSTEMS = ("backend", "portal", "finance", "website")
FUNCTIONS = ("generateInvoice", "parseTimesheet", "sendReminder", "syncXero",
             "generateContractPack")  # fmt: skip
REPOS = ("swan/backend", "swan/portal", "swan/desktop")
BATCH = 500
LATENCY_WINDOW = timedelta(hours=24, minutes=5)  # health's intake-latency window, and a margin
Event = dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Story:
    """The events of the story, by source; ids are stable per run of the demo (`run`)."""

    def __init__(self, now: datetime, days: int, run: str, seed: int = 17) -> None:
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=days)
        self.days = days
        self.run = run
        self.rng = random.Random(seed)
        self.history_until = self.now - LATENCY_WINDOW  # older: history; newer: only live
        self.live_from = self.now - timedelta(minutes=2)
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.count = 0

    def add(self, etype: str, source: str, at: datetime, payload: dict[str, Any],
            correlation_id: str | None = None) -> None:  # fmt: skip
        if not self.start <= at <= self.now or self.live_from > at > self.history_until:
            return
        self.count += 1
        event: Event = {"eventId": f"demo-{self.run}-{self.count:06d}", "type": etype,
                        "ts": _iso(at), "source": source, "payload": payload}  # fmt: skip
        if correlation_id:
            event["correlationId"] = correlation_id
        self.events[source].append(event)

    def ago(
        self, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        return self.now - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)

    def build(self) -> Story:
        self._heartbeats()
        self._errors()
        self._ci()
        self._finance()
        self._business()
        # A system CT does not know: routing retries it, then it waits in the DLQ.
        self.add("system.heartbeat", "backend", self.ago(minutes=1), {"system_id": "billing"})
        self._live()
        return self

    def _live(self) -> None:
        """What happens in the last two minutes (sent with little intake latency)."""
        for system in ("backend", "portal", "finance"):
            self.add("system.heartbeat", system, self.ago(minutes=1), {"system_id": system})
        for n in range(6):  # the backend is failing now
            self._error(self.ago(seconds=10 + n * 15), "generateContractPack", "critical")
        for n in range(8):
            self.add(
                "portal.upload.received",
                "portal",
                self.ago(seconds=5 + n * 12),
                {"contractor_id": f"c-{n:04d}", "file_ref": f"uploads/live-{n}.pdf"},
            )
        self.add(
            "desktop.trigger.contract",
            "desktop",
            self.ago(seconds=40),
            {"contractor_id": "c-0042", "contract_id": "K-2231"},
        )

    def _heartbeats(self) -> None:
        at = self.start
        portal_down = (self.ago(days=6, hours=3), self.ago(days=6))
        while at <= self.now:
            for system in HEARTBEAT_SYSTEMS:
                if system == "portal" and portal_down[0] <= at < portal_down[1]:
                    continue
                if system == "website" and at > self.ago(days=2):
                    continue
                self.add("system.heartbeat", system, at, {"system_id": system, "version": "2.4.1"})
            at += timedelta(minutes=10)

    def _error(self, at: datetime, fn: str, severity: str) -> None:
        payload = {"fn_name": fn, "severity": severity, "stack_ref": f"logs/{self.count}"}
        self.add("backend.fn.error", "backend", at, payload)

    def _errors(self) -> None:
        for day in range(self.days):
            for _ in range(self.rng.randint(1, 4)):
                at = self.ago(days=day, hours=self.rng.uniform(0, 24))
                severity = self.rng.choice(("low", "low", "medium", "high"))
                self._error(at, self.rng.choice(FUNCTIONS), severity)
        for days_ago, fn, count in ((12, "generateInvoice", 40), (3, "syncXero", 25)):
            for n in range(count):
                self._error(self.ago(days=days_ago, minutes=n * 1.5), fn, "high")

    def _ci_failure(self, at: datetime, repo: str, job: str) -> None:
        run_id = 7_000_000 + self.count
        self.add("ci.workflow.failed", "github", at, {
            "repo": repo, "run_id": run_id, "job": job,
            "url": f"https://github.com/{repo}/actions/runs/{run_id}",
        })  # fmt: skip

    def _ci(self) -> None:
        for day in range(0, self.days, 3):
            at = self.ago(days=day, hours=self.rng.uniform(8, 18))
            self._ci_failure(at, self.rng.choice(REPOS), self.rng.choice(("lint", "build")))
        for n in range(6):  # the streak: swan/portal's tests, two days ago
            self._ci_failure(self.ago(days=2, hours=10 - n * 1.5), "swan/portal", "tests")

    def _finance(self) -> None:
        number = 0
        for day in range(self.days, -1, -1):
            date = self.ago(days=day)
            if date.weekday() >= 5:
                continue
            for _ in range(self.rng.randint(3, 8)):
                number += 1
                currency = "EUR" if self.rng.random() < 0.2 else "GBP"
                amount = self.rng.randint(20_000, 900_000)
                invoice = f"INV-{date:%Y%m}-{number:04d}"
                at = date.replace(hour=9) + timedelta(minutes=self.rng.randint(0, 480))
                self.add("finance.invoice.generated", "finance", at, {
                    "invoice_id": invoice, "period": f"{date:%Y-%m}",
                    "total": {"amount_minor": amount, "currency": currency},
                    "vat": {"amount_minor": amount // 6, "currency": currency},
                })  # fmt: skip
                if self.rng.random() < 0.75:
                    paid = at + timedelta(days=self.rng.uniform(0.5, 5))
                    after = "paid" if self.rng.random() < 0.93 else "failed"
                    self.add("finance.payment.webhook", "finance", paid, {
                        "invoice_id": invoice, "status_before": "sent", "status_after": after,
                    })  # fmt: skip

    def _business(self) -> None:
        for day in range(self.days + 1):
            base = self.ago(days=day)
            for n in range(self.rng.randint(20, 60)):
                self.add("portal.upload.received", "portal", base - timedelta(minutes=n * 17),
                         {"contractor_id": f"c-{self.rng.randint(1, 400):04d}",
                          "file_ref": f"uploads/{day}-{n}.pdf"})  # fmt: skip
            for n in range(self.rng.randint(5, 15)):
                self.add(
                    "website.form.submitted",
                    "website",
                    base - timedelta(minutes=n * 53),
                    {"form_id": "contact", "captcha_score": round(self.rng.random(), 2)},
                )
            for n in range(self.rng.randint(2, 6)):
                self.add("desktop.trigger.contract", "desktop",
                         base - timedelta(minutes=30 + n * 97),
                         {"contractor_id": f"c-{self.rng.randint(1, 400):04d}",
                          "contract_id": f"K-{day}-{n}"})  # fmt: skip

    def batches(self) -> Iterator[tuple[str, list[Event]]]:
        """(source, up to BATCH events), oldest first within each source."""
        for source, items in sorted(self.events.items()):
            items.sort(key=lambda e: str(e["ts"]))
            for i in range(0, len(items), BATCH):
                yield source, items[i : i + BATCH]


def send(
    client: httpx.Client, story: Story, producers: dict[str, tuple[str, str]], progress: Progress
) -> dict[str, int]:
    """POST every batch, signed by its source's producer token; counts by outcome."""
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    task = progress.add_task("events", total=story.count)
    for source, batch in story.batches():
        token, secret = producers[source]
        body = json.dumps({"events": batch}, separators=(",", ":")).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "X-CT-Signature": sign(secret, body)}  # fmt: skip
        answer = client.post("/events/batch", content=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"POST /events/batch answered {answer.status_code}: "
                               f"{answer.text[:300]}")  # fmt: skip
        result = answer.json()
        for key in totals:
            totals[key] += int(result.get(key, 0))
        progress.advance(task, len(batch))
    return totals


RUNS = (
    ("contract.regenerate", {"contract_id": "K-2231", "reason": "client changed the rate"}),
    ("contract.regenerate", {"contract_id": "K-2240"}),
    ("portal.notify.retry", {"upload_id": "up-99812"}),
)


def start_runs(client: httpx.Client, operator_token: str) -> list[str]:
    """An operator's runs, through POST /triggers/{name} like any other caller."""
    started = []
    for name, inputs in RUNS:
        answer = client.post(f"/triggers/{name}", json={"inputs": inputs},
                             headers={"Authorization": f"Bearer {operator_token}"})  # fmt: skip
        if answer.status_code not in (200, 202):
            raise RuntimeError(f"POST /triggers/{name} answered {answer.status_code}: "
                               f"{answer.text[:300]}")  # fmt: skip
        started.append(str(answer.json()["run_id"]))
    return started
