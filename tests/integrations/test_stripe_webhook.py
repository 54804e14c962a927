"""POST /integrations/stripe: Stripe's signed invoice and payment events become finance events,
once each, with money in minor units and no customer PII, on both stores.

The invoice is the `invoice` resource of Stripe's public OpenAPI fixtures (stripe/openapi,
`openapi/fixtures3.json`, public test data), copied unchanged into
fixtures/stripe_invoice.json and wrapped here in Stripe's documented event envelope.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from control_tower.app import create_app
from control_tower.integrations.stripe.adapter import PaymentAdapter
from control_tower.integrations.stripe.service import StripeAdapter
from control_tower.kit.clock import FrozenClock
from control_tower.settings import Settings
from tests.pollers.fakes import stored_events

INVOICE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "stripe_invoice.json").read_text()
)
OLD_SECRET = "whsec_stripe_test_old_not_secret"
NEW_SECRET = "whsec_stripe_test_new_not_secret"


def envelope(
    event_type: str, obj: dict[str, Any], event_id: str, created: int, **data: Any
) -> dict[str, Any]:
    """Stripe's event envelope (docs.stripe.com/api/events/object)."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": created,
        "data": {"object": obj, **data},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class Stripe:
    """Stripe's side: builds events from the fixture and delivers them, signed."""

    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client = client
        self.clock = clock

    def event(self, event_type: str, event_id: str = "evt_1", **changes: Any) -> dict[str, Any]:
        invoice = copy.deepcopy(INVOICE)
        invoice.update(changes)
        return envelope(event_type, invoice, event_id, int(self.clock.now().timestamp()) - 2)

    def deliver(
        self,
        payload: Any,
        *,
        secret: str | None = NEW_SECRET,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> Any:
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        elif secret is not None:
            now = int(self.clock.now().timestamp())
            headers["Stripe-Signature"] = stripe_signature(raw, secret, now)
        return self.client.post("/integrations/stripe", content=raw, headers=headers)


def stripe_settings(settings: Settings, **extra: Any) -> Settings:
    update = {"stripe_webhook_secrets": f"{OLD_SECRET}, {NEW_SECRET}", **extra}
    return settings.model_copy(update=update)


@pytest.fixture
def stripe(settings: Settings, clock: FrozenClock) -> Iterator[Stripe]:
    app = create_app(stripe_settings(settings), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Stripe(client, clock)


def test_a_finalized_invoice_becomes_finance_invoice_generated(
    stripe: Stripe, engine: Engine
) -> None:
    event = stripe.event("invoice.finalized", "evt_1NfinalizedA", status="open")
    answer = stripe.deliver(event)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "accepted": True,
        "duplicate": False,
        "event_ids": ["stripe:evt_1NfinalizedA"],
    }
    [row] = stored_events(engine)
    assert row.event_id == "stripe:evt_1NfinalizedA"
    assert row.type == "finance.invoice.generated"
    assert row.source == "finance"
    assert row.producer == "webhook:stripe"
    assert int(row.occurred_at.timestamp()) == event["created"]
    assert row.payload == {
        "invoice_id": "in_1MoqxGLgUG5tbmjcJeILGSau",
        "period": "2009-02",  # period_start 1234567890
        "total": {"amount_minor": 1000, "currency": "USD"},
        "vat": {"amount_minor": 0, "currency": "USD"},
        "amount_due": {"amount_minor": 1000, "currency": "USD"},
        "provider": "stripe",
        "provider_event": "invoice.finalized",
    }
    assert row.redactions == []


def test_a_redelivery_is_a_duplicate_and_stores_nothing_more(
    stripe: Stripe, engine: Engine
) -> None:
    event = stripe.event("invoice.finalized", "evt_1Nagain")
    assert stripe.deliver(event).status_code == 202
    again = stripe.deliver(event)
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "event_ids": ["stripe:evt_1Nagain"]}
    assert len(stored_events(engine)) == 1


def test_invoice_payments_become_finance_payment_webhook(stripe: Stripe, engine: Engine) -> None:
    paid = stripe.event(
        "invoice.paid", "evt_1Npaid", status="paid", paid=True, amount_paid=1000, amount_due=1000
    )
    assert stripe.deliver(paid).status_code == 202
    failed = stripe.event("invoice.payment_failed", "evt_1Nfailed", status="open")
    assert stripe.deliver(failed).status_code == 202
    voided = stripe.event("invoice.voided", "evt_1Nvoid", status="void")
    voided["data"]["previous_attributes"] = {"status": "uncollectible"}
    assert stripe.deliver(voided).status_code == 202
    rows = stored_events(engine, "finance.payment.webhook")
    assert [(r.payload["status_before"], r.payload["status_after"]) for r in rows] == [
        ("open", "paid"),
        ("open", "payment_failed"),
        ("uncollectible", "void"),
    ]
    assert rows[0].payload["amount"] == {"amount_minor": 1000, "currency": "USD"}
    assert {r.payload["invoice_id"] for r in rows} == {"in_1MoqxGLgUG5tbmjcJeILGSau"}


def test_no_customer_pii_reaches_the_store(stripe: Stripe, engine: Engine) -> None:
    personal = {
        "customer_name": "Jenny Rosen",
        "customer_email": "jenny.rosen@example.com",
        "customer_phone": "+44 7700 900123",
        "customer_address": {"line1": "1 High Street", "city": "Leeds", "postal_code": "LS1 4AP"},
        "customer_shipping": {"name": "Jenny Rosen", "address": {"line1": "1 High Street"}},
        "description": "Consulting for Jenny Rosen",
        "account_name": "Swan Recruitment Ltd",
        "number": "SWAN-0042",
        "tax": 200,
        "total": 1200,
    }
    assert (
        stripe.deliver(stripe.event("invoice.finalized", "evt_1Npii", **personal)).status_code
        == 202
    )
    [row] = stored_events(engine)
    stored = json.dumps(row.payload)
    for value in ("Jenny", "Rosen", "jenny.rosen@example.com", "7700", "High Street", "LS1",
                  "Swan Recruitment", "cus_NZbFQAsc0ptasX"):  # fmt: skip
        assert value not in stored, value
    assert row.payload["number"] == "SWAN-0042"
    assert row.payload["total"] == {"amount_minor": 1200, "currency": "USD"}
    assert row.payload["vat"] == {"amount_minor": 200, "currency": "USD"}
    assert row.redactions == []


def test_payment_events_count_only_when_linked_to_an_invoice(
    stripe: Stripe, engine: Engine, clock: FrozenClock
) -> None:
    created = int(clock.now().timestamp())
    intent = {
        "id": "pi_1MoS6fLgUG5tbmjca6AdBPsl", "object": "payment_intent", "amount": 1099,
        "amount_received": 1099, "currency": "gbp", "status": "succeeded",
        "invoice": "in_1MoqxGLgUG5tbmjcJeILGSau", "receipt_email": "jenny@example.com",
    }  # fmt: skip
    answer = stripe.deliver(envelope("payment_intent.succeeded", intent, "evt_1Npi", created))
    assert answer.status_code == 202, answer.text
    [row] = stored_events(engine)
    assert row.type == "finance.payment.webhook"
    assert row.payload["amount"] == {"amount_minor": 1099, "currency": "GBP"}
    assert row.payload["payment_id"] == "pi_1MoS6fLgUG5tbmjca6AdBPsl"
    assert "jenny" not in json.dumps(row.payload)
    unlinked = dict(intent, invoice=None)
    ignored = stripe.deliver(envelope("payment_intent.succeeded", unlinked, "evt_1Npi2", created))
    assert ignored.status_code == 202
    assert ignored.json()["ignored"] is True
    refund = {
        "id": "ch_1MoS30LgUG5tbmjcjfsQqpHI", "object": "charge", "amount": 1099,
        "amount_refunded": 500, "currency": "gbp", "invoice": "in_1MoqxGLgUG5tbmjcJeILGSau",
    }  # fmt: skip
    assert (
        stripe.deliver(envelope("charge.refunded", refund, "evt_1Nref", created)).status_code == 202
    )
    assert stored_events(engine)[-1].payload["status_after"] == "partially_refunded"


def test_other_events_are_acknowledged_and_ignored(stripe: Stripe, engine: Engine) -> None:
    answer = stripe.deliver(stripe.event("invoice.updated", "evt_1Nupd"))
    assert answer.status_code == 202
    assert answer.json() == {
        "ignored": True,
        "reason": "event type 'invoice.updated' is not mapped",
    }
    customer = envelope("customer.created", {"id": "cus_1", "email": "a@b.test"}, "evt_1Nc", 1)
    assert stripe.deliver(customer).json()["ignored"] is True
    assert stored_events(engine) == []


def test_signatures_any_secret_any_v1_within_300_seconds(stripe: Stripe, engine: Engine) -> None:
    event = stripe.event("invoice.finalized", "evt_1Nsig")
    body = json.dumps(event).encode()
    now = int(stripe.clock.now().timestamp())
    assert stripe.deliver(event, secret=None).status_code == 401
    assert stripe.deliver(event, secret="whsec_wrong").status_code == 401
    tampered = body.replace(b"1000", b"9000")
    signed_original = stripe_signature(body, NEW_SECRET, now)
    assert stripe.deliver(None, body=tampered, signature=signed_original).status_code == 401
    stale = stripe_signature(body, NEW_SECRET, now - 301)
    answer = stripe.deliver(None, body=body, signature=stale)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "stale_timestamp"
    assert stored_events(engine) == []
    # The old secret still works while Stripe rolls it; any of several v1 values may match.
    good = stripe_signature(body, OLD_SECRET, now).split(",")[1]
    several = f"t={now},v1={'0' * 64},{good},v0=abc"
    assert stripe.deliver(None, body=body, signature=several).status_code == 202


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"not json', 400), (b'{"object": "customer"}', 400), (b"[]", 400)],
)
def test_signed_but_malformed_deliveries_are_400(stripe: Stripe, body: bytes, status: int) -> None:
    assert stripe.deliver(None, body=body).status_code == status


def test_unconfigured_is_503(client: TestClient, clock: FrozenClock) -> None:
    answer = Stripe(client, clock).deliver(Stripe(client, clock).event("invoice.finalized"))
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "webhook_not_configured"


def test_the_address_budget_is_spent_before_the_body_and_the_body_is_bounded(
    settings: Settings, clock: FrozenClock
) -> None:
    tight = stripe_settings(settings, stripe_rate_limit_per_minute=2, max_batch_bytes=1024)
    with TestClient(create_app(tight, clock=clock), raise_server_exceptions=False) as client:
        stripe = Stripe(client, clock)
        big = stripe.event("invoice.finalized", "evt_big")
        assert stripe.deliver(big).status_code == 413
        assert stripe.deliver({}, secret=None).status_code == 401
        limited = stripe.deliver({}, secret=None)
        assert limited.status_code == 429
        assert "retry-after" in limited.headers


def test_the_stripe_adapter_has_the_shape_of_every_payment_adapter() -> None:
    adapter: PaymentAdapter = StripeAdapter([NEW_SECRET])
    assert adapter.provider == "stripe"
