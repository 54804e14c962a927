"""What every channel shares: the envelope of an attempt, its outcome, the Protocol a channel
implements, and reading a secret from the environment."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from control_tower.models.notify import AttemptOutcome
from control_tower.notify.service import Message

DETAIL_LIMIT = 500


@dataclass(frozen=True)
class Delivery:
    """The envelope of one attempt: which outbox row, its key, and when the attempt starts."""

    notification_id: int
    key: str
    at: datetime
    attempt: int

    @property
    def message_id(self) -> str:
        """Stable across retries, so a receiver can drop a repeat (Standard Webhooks'
        `webhook-id`, the email's Message-ID)."""
        return f"ntf_{self.notification_id}"


@dataclass(frozen=True)
class Attempt:
    outcome: AttemptOutcome
    status_code: int | None = None  # HTTP status or SMTP reply code
    detail: str | None = None
    duration_ms: int = 0
    retry_after_seconds: float | None = None


class Channel(Protocol):
    def send(self, message: Message, delivery: Delivery) -> Attempt: ...


class SecretError(Exception):
    """A secret the channel names is not in the environment, or is not usable."""


def read_secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SecretError(f"environment variable {name} is not set")
    return value


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def text_with_links(message: Message) -> str:
    lines = [message.text]
    if message.links:
        lines += ["", *(f"{link.text}: {link.href}" for link in message.links)]
    return "\n".join(lines)
