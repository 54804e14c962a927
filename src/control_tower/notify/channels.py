"""The channels: one small sender per kind behind the `Channel` Protocol, each making one
delivery attempt (email is in smtp.py, what they share in envelope.py).

A sender never raises for a network, HTTP or SMTP problem: it returns an `Attempt` that says
whether it was delivered, is worth retrying (timeouts, 5xx, 429 with its `Retry-After`), or was
refused for good (another 4xx, an SMTP 5xx). Secrets are read from the environment when the
attempt is made; a missing or unusable one raises `SecretError`, which the worker records as a
failed attempt to retry. No secret, URL included, appears in an attempt's detail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from control_tower.catalog import channels as spec
from control_tower.notify.envelope import (
    DETAIL_LIMIT,
    Attempt,
    Channel,
    Delivery,
    SecretError,
    cut,
    elapsed_ms,
    read_secret,
    text_with_links,
)
from control_tower.notify.service import Message
from control_tower.notify.smtp import SmtpEmail

__all__ = ["Attempt", "Channel", "Delivery", "SecretError", "build_channel"]

SLACK_TEXT_LIMIT = 3000
PAGERDUTY_SUMMARY_LIMIT = 1024


# -- HTTP channels ------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo is not None else None


def post_json(
    client: httpx.Client,
    url: str,
    body: bytes,
    *,
    timeout: float,
    at: datetime,
    headers: Mapping[str, str] | None = None,
    success: tuple[int, ...] = (200, 201, 202, 204),
) -> Attempt:
    """POST one JSON body; 408, 429 and 5xx are worth retrying, other answers are final."""
    started = time.perf_counter()
    try:
        response = client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        return Attempt("retry", None, f"timeout: {type(exc).__name__}", elapsed_ms(started))
    except httpx.HTTPError as exc:
        # The URL can be the secret (a Slack webhook): name the error, never the address.
        return Attempt("retry", None, f"transport: {type(exc).__name__}", elapsed_ms(started))
    duration = elapsed_ms(started)
    code = response.status_code
    detail = cut(response.text.strip(), DETAIL_LIMIT) or None
    if code in success:
        return Attempt("success", code, detail, duration)
    said = f"HTTP {code}: {detail}" if detail else f"HTTP {code}"
    if code in (408, 429) or code >= 500:
        wait = retry_after_seconds(response.headers.get("Retry-After"), at)
        return Attempt("retry", code, said, duration, wait)
    return Attempt("failed", code, said, duration)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> dict[str, Any]:
    """`text` is the notification's preview; the blocks carry the message as mrkdwn (sent as
    the feature wrote it) and its links."""
    title = _slack_escape(message.title)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": cut(f"*{title}*\n{message.text}", SLACK_TEXT_LIMIT),
            },
        }
    ]
    if message.links:
        links = " · ".join(
            f"<{link.href}|{_slack_escape(link.text).replace('|', '¦')}>" for link in message.links
        )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {"text": title, "blocks": blocks}


@dataclass
class SlackWebhook:
    channel: spec.SlackChannel
    client: httpx.Client
    env: Mapping[str, str]

    def send(self, message: Message, delivery: Delivery) -> Attempt:
        url = read_secret(self.env, self.channel.url_env)
        return post_json(
            self.client,
            url,
            _json_bytes(slack_body(message)),
            timeout=self.channel.timeout_seconds,
            at=delivery.at,
            success=(200,),
        )


def webhook_body(message: Message, delivery: Delivery) -> dict[str, Any]:
    """Standard Webhooks' payload shape: type, timestamp, data."""
    return {
        "type": f"notification.{message.kind}",
        "timestamp": delivery.at.isoformat().replace("+00:00", "Z"),
        "data": {"id": delivery.message_id, **message.to_json()},
    }


@dataclass
class SignedWebhook:
    channel: spec.WebhookChannel
    client: httpx.Client
    env: Mapping[str, str]

    def send(self, message: Message, delivery: Delivery) -> Attempt:
        url = read_secret(self.env, self.channel.url_env)
        secret = read_secret(self.env, self.channel.secret_env)
        try:
            signer = Webhook(secret)
        except Exception as exc:  # binascii.Error, EmptyWebhookSecretError
            raise SecretError(
                f"{self.channel.secret_env} is not a Standard Webhooks secret (whsec_ and "
                f"base64): {type(exc).__name__}"
            ) from exc
        body = _json_bytes(webhook_body(message, delivery)).decode("utf-8")
        headers = {
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(delivery.at.timestamp())),
            "webhook-signature": signer.sign(delivery.message_id, delivery.at, body),
        }
        return post_json(
            self.client,
            url,
            body.encode("utf-8"),
            timeout=self.channel.timeout_seconds,
            at=delivery.at,
            headers=headers,
            success=tuple(range(200, 300)),
        )


def pagerduty_body(
    message: Message, delivery: Delivery, routing_key: str, source: str
) -> dict[str, Any]:
    """An Events API v2 event. Without a dedup_key a trigger uses the notification's key, so
    a retried trigger never opens a second incident."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": message.action,
        "dedup_key": message.dedup_key or delivery.key,
    }
    if message.action == "trigger":
        payload: dict[str, Any] = {
            "summary": cut(message.title, PAGERDUTY_SUMMARY_LIMIT),
            "source": source,
            "severity": message.severity,
            "timestamp": (message.at or delivery.at).isoformat(),
        }
        for name, value in (
            ("component", message.component),
            ("group", message.group),
            ("class", message.event_class),
        ):
            if value:
                payload[name] = value
        payload["custom_details"] = {"text": message.text, **message.details}
        body["payload"] = payload
    if message.links:
        body["links"] = [{"href": link.href, "text": link.text} for link in message.links]
    return body


@dataclass
class PagerDutyEvents:
    channel: spec.PagerDutyChannel
    client: httpx.Client
    env: Mapping[str, str]

    def send(self, message: Message, delivery: Delivery) -> Attempt:
        if message.action != "trigger" and not message.dedup_key:
            return Attempt("failed", None, f"{message.action} needs the message's dedup_key")
        routing_key = read_secret(self.env, self.channel.routing_key_env)
        body = pagerduty_body(message, delivery, routing_key, self.channel.source)
        return post_json(
            self.client,
            self.channel.url,
            _json_bytes(body),
            timeout=self.channel.timeout_seconds,
            at=delivery.at,
            success=(200, 201, 202),
        )


# -- Apprise ------------------------------------------------------------------------------

_APPRISE_TYPES = {"critical": "failure", "error": "failure", "warning": "warning", "info": "info"}


@dataclass
class AppriseNotify:
    channel: spec.AppriseChannel
    env: Mapping[str, str]

    def send(self, message: Message, delivery: Delivery) -> Attempt:  # noqa: ARG002
        # Imported here: Apprise loads every one of its plugins, which only these channels need.
        import apprise

        url = read_secret(self.env, self.channel.url_env)
        started = time.perf_counter()
        sender = apprise.Apprise()
        if not sender.add(url):
            return Attempt("failed", None, "not an Apprise URL of a service it knows")
        result = sender.notify(
            body=text_with_links(message),
            title=message.title,
            notify_type=_APPRISE_TYPES[message.severity],
            body_format=apprise.NotifyFormat.MARKDOWN,
            timeout=self.channel.timeout_seconds,
        )
        duration = elapsed_ms(started)
        if result:
            return Attempt("success", None, "delivered", duration)
        said = "; ".join(entry.message for entry in result.logs())
        detail = cut(f"{result.status.name.lower()}: {said}".strip(": "), DETAIL_LIMIT)
        return Attempt("retry", None, detail, duration)


def build_channel(channel: spec.Channel, client: httpx.Client, env: Mapping[str, str]) -> Channel:
    """The sender for a catalogue channel."""
    if isinstance(channel, spec.SlackChannel):
        return SlackWebhook(channel, client, env)
    if isinstance(channel, spec.WebhookChannel):
        return SignedWebhook(channel, client, env)
    if isinstance(channel, spec.PagerDutyChannel):
        return PagerDutyEvents(channel, client, env)
    if isinstance(channel, spec.EmailChannel):
        return SmtpEmail(channel, env)
    return AppriseNotify(channel, env)
