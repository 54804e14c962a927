"""What a Stripe event means for CT, and storing it once (endpoint: stripe/endpoints.py).

Stripe posts an event envelope, `{"id": "evt_…", "object": "event", "type": "invoice.paid",
"created": <unix>, "data": {"object": {…the invoice…}, "previous_attributes": {…}}}`. Invoice
events become `finance.invoice.generated` (finalized) or `finance.payment.webhook` (paid,
failed, voided…); payment events linked to an invoice become `finance.payment.webhook` too.
Only named fields are copied — ids, amounts (already integers in minor units), currency,
statuses, dates — so no customer name, email, address or phone ever reaches the store. The
event id is `stripe:<Stripe's event id>`: a re-delivery is a duplicate, not a second event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from control_tower.catalog import Catalog
from control_tower.db import unit_of_work
from control_tower.ingest.internal import emit_events
from control_tower.integrations.stripe.adapter import Interpretation, PaymentAdapter
from control_tower.integrations.stripe.signature import TOLERANCE_SECONDS, verify_stripe_signature
from control_tower.kit.errors import BadRequest, Conflict

INVOICE_GENERATED = "finance.invoice.generated"
PAYMENT_CHANGED = "finance.payment.webhook"
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,100}")

# Invoice events that move an invoice's payment status: (status before, status after). The
# status before is the event's `previous_attributes.status` when Stripe sends one.
INVOICE_STATUS_EVENTS = {
    "invoice.paid": ("open", "paid"),
    "invoice.payment_succeeded": ("open", "paid"),
    "invoice.payment_failed": ("open", "payment_failed"),
    "invoice.payment_action_required": ("open", "action_required"),
    "invoice.overdue": ("open", "overdue"),
    "invoice.voided": ("open", "void"),
    "invoice.marked_uncollectible": ("open", "uncollectible"),
}
# Payment events, mapped only when the payment belongs to an invoice (CT's payloads are about
# invoices): (status before, status after, the field holding the amount).
PAYMENT_EVENTS = {
    "payment_intent.succeeded": ("pending", "succeeded", "amount_received"),
    "payment_intent.payment_failed": ("pending", "payment_failed", "amount"),
    "charge.refunded": ("paid", "refunded", "amount_refunded"),
}


@dataclass(frozen=True)
class StripeEvent:
    event_id: str  # Stripe's, evt_…
    type: str
    created: datetime
    obj: Mapping[str, Any]
    previous: Mapping[str, Any]


class StripeAdapter:
    provider = "stripe"

    def __init__(self, secrets: list[str], tolerance_seconds: int = TOLERANCE_SECONDS) -> None:
        self.secrets = secrets
        self.tolerance_seconds = tolerance_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify_stripe_signature(
            self.secrets, body, headers.get("stripe-signature"), now, self.tolerance_seconds
        )

    def interpret(self, delivery: Any, source: str) -> Interpretation:
        event = parse_event(delivery)
        if event.type == "invoice.finalized":
            return Interpretation([self._event(event, INVOICE_GENERATED, source, generated(event))])
        if event.type in INVOICE_STATUS_EVENTS:
            payload = invoice_status(event, *INVOICE_STATUS_EVENTS[event.type])
            return Interpretation([self._event(event, PAYMENT_CHANGED, source, payload)])
        if event.type in PAYMENT_EVENTS:
            linked = payment_status(event, *PAYMENT_EVENTS[event.type])
            if linked is None:
                return Interpretation(ignored=f"{event.type} is not linked to an invoice")
            return Interpretation([self._event(event, PAYMENT_CHANGED, source, linked)])
        return Interpretation(ignored=f"event type {event.type!r} is not mapped")

    def _event(
        self, event: StripeEvent, event_type: str, source: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        payload.update(provider=self.provider, provider_event=event.type)
        return {
            "event_id": f"{self.provider}:{event.event_id}",
            "type": event_type,
            "occurred_at": event.created.isoformat(),
            "source": source,
            "payload": payload,
        }


def parse_event(delivery: Any) -> StripeEvent:
    """The envelope's parts; 400 when it is not a Stripe event."""
    if not isinstance(delivery, dict) or delivery.get("object") != "event":
        raise BadRequest('not a Stripe event (no "object": "event")')
    event_id, event_type, created = (
        delivery.get("id"),
        delivery.get("type"),
        delivery.get("created"),
    )
    data = delivery.get("data")
    if not isinstance(event_id, str) or not _STRIPE_ID.fullmatch(event_id):
        raise BadRequest("a Stripe event needs an id (evt_…)")
    if not isinstance(event_type, str) or not event_type:
        raise BadRequest("a Stripe event needs a type")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise BadRequest("a Stripe event needs data.object")
    previous = data.get("previous_attributes")
    return StripeEvent(
        event_id, event_type, _moment(created, "created"), data["object"],
        previous if isinstance(previous, dict) else {},
    )  # fmt: skip


def generated(event: StripeEvent) -> dict[str, Any]:
    invoice = event.obj
    currency = _currency(invoice)
    payload: dict[str, Any] = {
        "invoice_id": _id(invoice, "id"),
        "period": _moment(
            invoice.get("period_start", event.created.timestamp()), "period_start"
        ).strftime("%Y-%m"),
        "total": _money(invoice, "total", currency),
        "vat": {"amount_minor": _tax(invoice), "currency": currency},
        "amount_due": _money(invoice, "amount_due", currency),
    }
    if isinstance(number := invoice.get("number"), str) and number:
        payload["number"] = number[:128]
    return payload


def invoice_status(event: StripeEvent, before: str, after: str) -> dict[str, Any]:
    invoice = event.obj
    currency = _currency(invoice)
    amount_field = "amount_paid" if after == "paid" else "amount_due"
    return {
        "invoice_id": _id(invoice, "id"),
        "status_before": _status_before(event, before),
        "status_after": after,
        "amount": _money(invoice, amount_field, currency),
    }


def payment_status(
    event: StripeEvent, before: str, after: str, amount_field: str
) -> dict[str, Any] | None:
    payment = event.obj
    invoice = payment.get("invoice")
    invoice_id = invoice.get("id") if isinstance(invoice, dict) else invoice
    if not isinstance(invoice_id, str) or not _STRIPE_ID.fullmatch(invoice_id):
        return None
    money = _money(payment, amount_field, _currency(payment))
    if after == "refunded" and money["amount_minor"] < _int(payment, "amount"):
        after = "partially_refunded"
    return {
        "invoice_id": invoice_id,
        "status_before": _status_before(event, before),
        "status_after": after,
        "amount": money,
        "payment_id": _id(payment, "id"),
    }


def _status_before(event: StripeEvent, default: str) -> str:
    status = event.previous.get("status")
    return status[:64] if isinstance(status, str) and status else default


def _id(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not _STRIPE_ID.fullmatch(value):
        raise BadRequest(f"the Stripe object has no valid {key}")
    return value


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"the Stripe object's {key} is not an integer amount")
    return value


def _currency(obj: Mapping[str, Any]) -> str:
    currency = obj.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[a-zA-Z]{3}", currency):
        raise BadRequest("the Stripe object has no three-letter currency")
    return currency.upper()


def _money(obj: Mapping[str, Any], key: str, currency: str) -> dict[str, Any]:
    return {"amount_minor": _int(obj, key), "currency": currency}


def _tax(invoice: Mapping[str, Any]) -> int:
    """The invoice's tax in minor units: `tax` in older API versions, the sum of `total_taxes`
    or `total_tax_amounts` in newer ones, 0 when it has none."""
    if isinstance(invoice.get("tax"), int):
        return _int(invoice, "tax")
    for key in ("total_taxes", "total_tax_amounts"):
        items = invoice.get(key)
        if isinstance(items, list) and items:
            return sum(_int(item, "amount") for item in items if isinstance(item, dict))
    return 0


def _moment(value: Any, name: str) -> datetime:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadRequest(f"the Stripe event's {name} is not unix seconds")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadRequest(f"the Stripe event's {name} is not a time") from exc


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]


def handle_delivery(
    engine: Engine,
    catalog: Catalog,
    adapter: PaymentAdapter,
    delivery: Any,
    source: str,
    now: datetime,
) -> Answer:
    """Interpret a verified delivery and store its events as `source`; a re-delivery is a
    duplicate."""
    meaning = adapter.interpret(delivery, source)
    if meaning.ignored is not None:
        return Answer(202, {"ignored": True, "reason": meaning.ignored})
    with unit_of_work(engine) as conn:
        stored = emit_events(
            conn, catalog, meaning.events, producer=f"webhook:{adapter.provider}", now=now
        )
        if conflicts := [o.event_id for o in stored if o.kind == "conflict"]:
            raise Conflict(
                f"event_id {conflicts[0]!r} was already used for different content",
                code="event_id_conflict",
                details={"event_id": conflicts[0]},
            )
    ids = [o.event_id for o in stored]
    if all(o.kind == "duplicate" for o in stored):
        return Answer(200, {"duplicate": True, "event_ids": ids})
    return Answer(202, {"accepted": True, "duplicate": False, "event_ids": ids})
