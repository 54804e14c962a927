"""Catalogue section: who may produce without a CT bearer token — Google service accounts, and
the payment provider's webhook (docs/auth.md, docs/integrations/stripe.md)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator

from control_tower.catalog.types import Strict

SLUG = r"^[a-z][a-z0-9_-]{0,31}$"
EMAIL = r"^[^@\s]+@[^@\s]+$"


class ServiceAccount(Strict):
    """A Google service account that produces for a source. It proves who it is with a
    Google-signed ID token whose audience is CT_PUBLIC_URL, and signs bodies with the signing
    secret of the producer token it acts as (that token's rate limit, rotation and revocation
    apply)."""

    email: str = Field(pattern=EMAIL, max_length=320, description="The service account's email.")
    source: str = Field(pattern=SLUG, description="The source it produces for.")
    token: str = Field(
        min_length=1,
        max_length=128,
        description="Name of the producer token (`ct token create`) it acts as; its source "
        "must be `source`.",
    )

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class StripeSpec(Strict):
    source: str = Field(
        default="finance", pattern=SLUG, description="The source Stripe's events are stored as."
    )


class IdentitySpec(Strict):
    service_accounts: list[ServiceAccount] = Field(default_factory=list)
    stripe: StripeSpec = Field(default_factory=StripeSpec)

    @field_validator("service_accounts")
    @classmethod
    def _unique(cls, value: list[ServiceAccount]) -> list[ServiceAccount]:
        emails = [account.email for account in value]
        if repeated := sorted({e for e in emails if emails.count(e) > 1}):
            raise ValueError(f"service account listed twice: {', '.join(repeated)}")
        return value

    @cached_property
    def service_account_by_email(self) -> dict[str, ServiceAccount]:
        return {account.email: account for account in self.service_accounts}
