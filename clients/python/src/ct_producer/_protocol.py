"""The HTTP side of the ingest contract, without any I/O: what to send, how to read answers."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ct_producer._errors import CTError, DeliveryError, rejected_error
from ct_producer._events import Envelope
from ct_producer._results import Result
from ct_producer._signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

VERSION = "0.1.0"
USER_AGENT = f"ct-producer-python/{VERSION}"
EVENTS_PATH = "/events"
BATCH_PATH = "/events/batch"
# CT's defaults are 500 events and 4 MiB (CT_MAX_BATCH_EVENTS, CT_MAX_BATCH_BYTES); a quarter
# of the bytes leaves room for a server configured tighter than the default.
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Post:
    """One request to make, with its retries: the same body on every attempt."""

    path: str
    body: bytes
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class Reply:
    """CT's final answer to a `Post`; `status_code` None when every attempt failed
    transiently (5xx, 429, timeout, connection), `failure` saying how the last one did."""

    status_code: int | None
    data: Any
    attempts: int
    failure: str = ""


def request_headers(token: str, secret: str, body: bytes, *, timestamped: bool) -> dict[str, str]:
    """Headers for one attempt; a timestamped signature is made afresh for each attempt."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if timestamped:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, body, timestamp)
    else:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    return headers


def parse_json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def not_delivered(reply: Reply, event_ids: tuple[str, ...]) -> DeliveryError:
    what = f"event {event_ids[0]}" if len(event_ids) == 1 else f"{len(event_ids)} events"
    return DeliveryError(
        f"CT did not acknowledge {what} after {reply.attempts} attempt(s): {reply.failure}",
        event_ids=event_ids,
        attempts=reply.attempts,
    )


def single_result(reply: Reply, event_id: str) -> Result:
    """The answer to `POST /events`, or the typed error it stands for."""
    if reply.status_code is None:
        raise not_delivered(reply, (event_id,))
    if not is_success(reply.status_code):
        raise rejected_error(reply.status_code, reply.data, (event_id,))
    data: Mapping[str, Any] = reply.data if isinstance(reply.data, Mapping) else {}
    return Result(
        event_id,
        reply.status_code,
        duplicate=bool(data.get("duplicate", reply.status_code == 200)),
        redactions=tuple(str(path) for path in data.get("redactions") or ()),
        attempts=reply.attempts,
    )


def batch_results(reply: Reply, event_ids: tuple[str, ...]) -> list[Result]:
    """The per-event results of `POST /events/batch`, or the error that refused the batch."""
    if reply.status_code is None:
        raise not_delivered(reply, event_ids)
    if not is_success(reply.status_code):
        raise rejected_error(reply.status_code, reply.data, event_ids)
    items = reply.data.get("results") if isinstance(reply.data, Mapping) else None
    if not isinstance(items, list) or len(items) != len(event_ids):
        raise CTError(f"CT's batch answer has no result per event: {reply.data!r:.200}")
    return [
        item_result(item, event_id, reply.attempts)
        for item, event_id in zip(items, event_ids, strict=True)
    ]


def item_result(item: Mapping[str, Any], event_id: str, attempts: int) -> Result:
    status = int(item.get("status", 0))
    error = item.get("error") if isinstance(item.get("error"), Mapping) else None
    return Result(
        event_id,
        status,
        duplicate=bool(item.get("duplicate")),
        error_code=None if error is None else str(error.get("code")),
        error_message=None if error is None else str(error.get("message", "")),
        attempts=attempts,
    )


def chunks(envelopes: Sequence[Envelope]) -> list[list[Envelope]]:
    """Envelopes cut into batches CT accepts: ≤ MAX_BATCH_EVENTS and ≤ MAX_BATCH_BYTES each."""
    found: list[list[Envelope]] = []
    current: list[Envelope] = []
    size = 0
    for envelope in envelopes:
        if current and (
            len(current) >= MAX_BATCH_EVENTS or size + len(envelope.body) > MAX_BATCH_BYTES
        ):
            found.append(current)
            current, size = [], 0
        current.append(envelope)
        size += len(envelope.body) + 1
    if current:
        found.append(current)
    return found
