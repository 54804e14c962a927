"""The shape every payment provider's webhook takes in CT, so GoCardless or Xero can follow
Stripe: verify the delivery its own way, then say which finance events it means.

An adapter knows the provider's signature and vocabulary and nothing of CT's store; the
endpoint and `service.handle_delivery` do the rest the same way for every provider: a
per-address rate limit before the body, a bounded body, the events stored once under an
`event_id` made from the provider's own delivery or event id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Interpretation:
    """What a verified delivery means: the events to store, or why there are none."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ignored: str | None = None  # the reason, when the delivery means nothing to CT


class PaymentAdapter(Protocol):
    provider: str  # "stripe": names the route, the producer ("webhook:stripe"), the ids

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise Unauthorized unless the delivery is signed by the provider."""
        ...

    def interpret(self, delivery: Any, source: str) -> Interpretation:
        """The finance events (`finance.invoice.generated`, `finance.payment.webhook`) a
        verified delivery means, as the `source`; money in minor units, no customer PII."""
        ...
