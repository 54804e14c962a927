"""What sending, batching and flushing do, shared by `Producer` and `AsyncProducer`.

Each flow is a generator that yields the `Post` it needs made and receives CT's `Reply`; the
sync and async producers only differ in how they make the request (with its retries), so the
rules (what is removed from the spool, what is rejected, when to stop) are written once.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ct_producer._errors import AuthenticationError, rejected_error
from ct_producer._events import Envelope, batch_body
from ct_producer._protocol import (
    BATCH_PATH,
    EVENTS_PATH,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Post,
    Reply,
    batch_results,
    chunks,
    is_success,
    item_result,
    single_result,
)
from ct_producer._results import BatchResult, FlushReport, Result
from ct_producer._spool import Spool, SpoolEntry

T = TypeVar("T")
Steps = Generator[Post, Reply, T]


def send_direct(envelope: Envelope) -> Steps[Result]:
    reply = yield Post(EVENTS_PATH, envelope.body, (envelope.event_id,))
    return single_result(reply, envelope.event_id)


def send_batch_direct(envelopes: Sequence[Envelope]) -> Steps[BatchResult]:
    results: list[Result] = []
    groups = chunks(envelopes)
    for number, group in enumerate(groups):
        ids = tuple(e.event_id for e in group)
        reply = yield Post(BATCH_PATH, batch_body([e.body for e in group]), ids)
        if reply.status_code is None:
            # Name every event not acknowledged: this batch's and the ones not yet sent.
            ids = tuple(e.event_id for later in groups[number:] for e in later)
        results.extend(batch_results(reply, ids))
    return BatchResult(tuple(results))


@dataclass
class FlushOutcome:
    results: dict[str, Result] = field(default_factory=dict)  # by spool file name
    remaining: int = 0

    def report(self) -> FlushReport:
        rejected = sum(r.rejected for r in self.results.values())
        return FlushReport(len(self.results) - rejected, rejected, self.remaining)


def flush(spool: Spool) -> Steps[FlushOutcome]:
    """Deliver the spool oldest first, in batches, until it is empty or CT stops answering.

    A 2xx (a duplicate included) removes an event; any other 4xx moves it to `rejected/`;
    a 401 raises `AuthenticationError` and leaves everything in place; when CT does not
    acknowledge a request after every attempt, the flush stops there, so order is kept."""
    outcome = FlushOutcome()
    spool.sweep_temporary_files()
    while entries := spool.oldest(MAX_BATCH_EVENTS, MAX_BATCH_BYTES):
        if not (yield from _deliver(spool, entries, outcome)):
            break
    outcome.remaining = len(spool.pending())
    return outcome


def send_spooled(
    spool: Spool, names: Sequence[str], event_ids: Sequence[str]
) -> Steps[BatchResult]:
    """After `spool.put`: flush, then say what became of these events."""
    outcome = yield from flush(spool)
    results = []
    for name, event_id in zip(names, event_ids, strict=True):
        if name in outcome.results:
            results.append(outcome.results[name])
        elif spool.contains(name):
            results.append(Result(event_id, spooled=True))
        elif (reason := spool.rejection(name)) is not None:
            results.append(_rejected_result(event_id, reason))
        else:  # another thread's or process's flush delivered it
            results.append(Result(event_id))
    return BatchResult(tuple(results))


def raise_if_rejected(result: Result) -> Result:
    """A single `send` raises the typed error of a rejected event, as without a spool."""
    if result.rejected:
        body = {"error": {"code": result.error_code, "message": result.error_message}}
        raise rejected_error(result.status_code or 400, body, (result.event_id,))
    return result


def _deliver(spool: Spool, entries: list[SpoolEntry], outcome: FlushOutcome) -> Steps[bool]:
    """Deliver some spooled events; False when the flush must stop here."""
    if len(entries) == 1:
        return _settle(spool, entries[0], (yield _single_post(entries[0])), outcome)
    ids = tuple(e.event_id for e in entries)
    reply = yield Post(BATCH_PATH, batch_body([e.body for e in entries]), ids)
    if reply.status_code is None:
        return False
    if reply.status_code == 401:
        raise rejected_error(401, reply.data, ids)
    if not is_success(reply.status_code):
        # The batch as a whole was refused (its size, its shape): let CT judge each event.
        for entry in entries:
            if not _settle(spool, entry, (yield _single_post(entry)), outcome):
                return False
        return True
    items = reply.data.get("results") if isinstance(reply.data, dict) else None
    if not isinstance(items, list) or len(items) != len(entries):
        return False
    for entry, item in zip(entries, items, strict=True):
        result = item_result(item, entry.event_id, reply.attempts)
        if not _record(spool, entry, result, item.get("error"), outcome):
            return False
    return True


def _single_post(entry: SpoolEntry) -> Post:
    return Post(EVENTS_PATH, entry.body, (entry.event_id,))


def _settle(spool: Spool, entry: SpoolEntry, reply: Reply, outcome: FlushOutcome) -> bool:
    if reply.status_code is None:
        return False
    if is_success(reply.status_code):
        result = single_result(reply, entry.event_id)
        return _record(spool, entry, result, None, outcome)
    error = rejected_error(reply.status_code, reply.data, (entry.event_id,))
    if isinstance(error, AuthenticationError):
        raise error
    result = Result(
        entry.event_id,
        reply.status_code,
        error_code=error.code,
        error_message=error.message,
        attempts=reply.attempts,
    )
    return _record(spool, entry, result, {"details": error.details}, outcome)


def _record(
    spool: Spool, entry: SpoolEntry, result: Result, error: Any, outcome: FlushOutcome
) -> bool:
    status = result.status_code or 0
    if 200 <= status < 300:
        spool.remove(entry.name)
    elif 400 <= status < 500 and status not in (401, 429):
        details = error.get("details") if isinstance(error, dict) else None
        reason = {
            "status": status,
            "code": result.error_code,
            "message": result.error_message,
            "details": details,
        }
        spool.reject(entry.name, reason)
    else:  # not an answer CT gives for one item: keep the event and stop, to keep order
        return False
    outcome.results[entry.name] = result
    return True


def _rejected_result(event_id: str, reason: dict[str, Any]) -> Result:
    return Result(
        event_id,
        int(reason.get("status") or 400),
        error_code=str(reason.get("code")),
        error_message=str(reason.get("message") or ""),
    )
