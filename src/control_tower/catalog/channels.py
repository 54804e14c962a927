"""Catalogue section `channels`: where notifications go (docs/notifications.md).

Five kinds, told apart by `kind`. A channel holds only non-secret settings; each secret (a
webhook URL, a password, a routing key, a signing secret) is read at delivery time from the
environment variable the channel names (`…_env`), so a catalogue never carries one and a
missing variable is reported by the delivery, not when the catalogue loads.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from control_tower.catalog.types import Strict

CHANNEL_NAME = r"^[a-z][a-z0-9_-]{0,63}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

EnvName = Annotated[str, Field(pattern=ENV_NAME)]


class DeliveryRetry(Strict):
    """Exponential backoff with jitter: attempt n waits up to min(max, base * 2**(n-1)); after
    `max_attempts` failed attempts the notification is dead."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    base_seconds: float = Field(default=10.0, gt=0)
    max_seconds: float = Field(default=900.0, gt=0)


class _ChannelBase(Strict):
    name: str = Field(pattern=CHANNEL_NAME, description="Unique channel name.")
    description: str = ""
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Bound of each network step of one attempt."
    )
    retry: DeliveryRetry = Field(default_factory=DeliveryRetry)


class SlackChannel(_ChannelBase):
    """A Slack incoming webhook."""

    kind: Literal["slack"]
    url_env: EnvName = Field(description="Environment variable holding the webhook URL.")


class EmailChannel(_ChannelBase):
    """Email over SMTP: a text part and, when the message has one, an HTML part."""

    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="STARTTLS on a plain connection, implicit TLS, or none."
    )
    ca_file: str | None = Field(
        default=None, description="CA bundle to trust instead of the system's (a private relay)."
    )
    username: str | None = Field(default=None, description="Log in as this user when set.")
    password_env: EnvName | None = Field(
        default=None, description="Environment variable holding the password."
    )
    sender: str = Field(alias="from", min_length=3, description="The From address.")
    to: list[str] = Field(min_length=1, description="Recipients.")


class WebhookChannel(_ChannelBase):
    """A generic JSON webhook, signed the Standard Webhooks way."""

    kind: Literal["webhook"]
    url_env: EnvName = Field(description="Environment variable holding the URL.")
    secret_env: EnvName = Field(
        description="Environment variable holding the signing secret (`whsec_…`, base64)."
    )


class PagerDutyChannel(_ChannelBase):
    """PagerDuty Events API v2."""

    kind: Literal["pagerduty"]
    url: str = Field(
        default=PAGERDUTY_EVENTS_URL, pattern=r"^https?://\S+$", description="Events API URL."
    )
    routing_key_env: EnvName = Field(
        description="Environment variable holding the integration's routing key."
    )
    source: str = Field(default="control-tower", description="`payload.source` of an event.")


class AppriseChannel(_ChannelBase):
    """Any service Apprise knows (Teams, Discord, Telegram, ntfy, …) by one Apprise URL."""

    kind: Literal["apprise"]
    url_env: EnvName = Field(description="Environment variable holding the Apprise URL.")


Channel = Annotated[
    SlackChannel | EmailChannel | WebhookChannel | PagerDutyChannel | AppriseChannel,
    Field(discriminator="kind"),
]
ChannelKind = Literal["slack", "email", "webhook", "pagerduty", "apprise"]
