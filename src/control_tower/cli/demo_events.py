"""Sample events for the demo: a morning of Swan's systems, so the board has something to say."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.ingest.internal import emit_events

GBP = "GBP"

# (name, type, source, minutes ago, payload)
SAMPLES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("hb-backend", "system.heartbeat", "backend", 2, {"system_id": "backend"}),
    ("hb-finance", "system.heartbeat", "finance", 2, {"system_id": "finance"}),
    ("hb-website", "system.heartbeat", "website", 2, {"system_id": "website"}),
    ("hb-portal", "system.heartbeat", "portal", 50, {"system_id": "portal"}),
    *(
        (
            f"err-{i}",
            "backend.fn.error",
            "backend",
            30 + i,
            {"fn_name": "generateContractPack", "severity": severity, "stack_ref": f"logs/{i}"},
        )
        for i, severity in enumerate(("high", "high", "critical", "low"))
    ),
    (
        "inv-1",
        "finance.invoice.generated",
        "finance",
        40,
        {
            "invoice_id": "INV-2026-0142",
            "period": "2026-11",
            "total": {"amount_minor": 125000, "currency": GBP},
            "vat": {"amount_minor": 25000, "currency": GBP},
        },
    ),
    (
        "pay-1",
        "finance.payment.webhook",
        "finance",
        20,
        {"invoice_id": "INV-2026-0142", "status_before": "sent", "status_after": "paid"},
    ),
    (
        "ci-1",
        "ci.workflow.failed",
        "github",
        15,
        {"repo": "swan/portal", "run_id": 9001, "job": "tests", "url": "https://ci/9001"},
    ),
    (
        "form-1",
        "website.form.submitted",
        "website",
        7,
        {"form_id": "contact", "captcha_score": 0.9, "message": "call me on 07700 900123"},
    ),
]


def demo_events(now: datetime) -> list[dict[str, Any]]:
    """Deterministic ids per day, so running the demo twice stores nothing twice."""
    day = now.strftime("%Y%m%d")
    return [
        {
            "event_id": f"demo:{day}:{name}",
            "type": etype,
            "source": source,
            "occurred_at": (now - timedelta(minutes=ago)).isoformat(),
            "payload": payload,
        }
        for name, etype, source, ago, payload in SAMPLES
    ]


def seed_demo_events(engine: Engine, catalog: Catalog, now: datetime) -> int:
    """Store the samples as if each had arrived when it happened (no intake delay)."""
    stored = 0
    with unit_of_work(engine) as conn:
        for event in demo_events(now):
            received = datetime.fromisoformat(event["occurred_at"])
            outcomes = emit_events(conn, catalog, [event], producer="demo", now=received)
            stored += sum(1 for o in outcomes if o.kind == "accepted")
    return stored
