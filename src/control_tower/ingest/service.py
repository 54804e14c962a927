"""Ingest use cases: one event or a batch, prepared, committed, answered."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypedDict, cast

import structlog

from control_tower.auth.principal import Principal
from control_tower.catalog import Catalog
from control_tower.events.validation import envelopes
from control_tower.ingest.committer import Committer
from control_tower.ingest.preparation import PreparedEvent, prepare_event
from control_tower.ingest.refusals import RefusalLog, refusal
from control_tower.ingest.repository import InsertKind
from control_tower.kit.clock import Clock
from control_tower.kit.errors import Conflict, CTError, Unprocessable
from control_tower.observability.metrics import Metrics


@dataclass(frozen=True)
class Ingest:
    """What ingest needs of a running CT."""

    catalog: Catalog
    clock: Clock
    committer: Committer
    metrics: Metrics
    max_batch_events: int
    refusals: RefusalLog | None = None  # counts refused events durably (taxonomy drift)


_ITEM_STATUS: dict[InsertKind, int] = {"accepted": 202, "duplicate": 200, "conflict": 409}


def _reused(event_id: str) -> str:
    return f"event_id {event_id!r} was already used for different content"


def _conflict(event_id: str) -> Conflict:
    return Conflict(
        _reused(event_id),
        code="event_id_conflict",
        details={"event_id": event_id},
    )


def _type_label(ctx: Ingest, raw: Any) -> str:
    """An event's type for metrics: only catalogue types, so labels stay bounded."""
    etype = raw.get("type") if isinstance(raw, dict) else None
    return etype if isinstance(etype, str) and ctx.catalog.event_type(etype) else "unknown"


async def ingest_event(ctx: Ingest, principal: Principal, raw: Any) -> EventAnswer:
    """Store one event; 409 when its id was used for other content."""
    started = time.perf_counter()
    source = principal.source or "unknown"
    metrics = ctx.metrics
    try:
        prepared = prepare_event(raw, principal, ctx.catalog, ctx.clock.now())
        if correlation_id := prepared.row["correlation_id"]:
            # Validated as an identifier, so safe to log: the access line then carries it.
            structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        [outcome] = await ctx.committer.submit([prepared.row])
    except CTError as exc:
        metrics.series(metrics.events_ingested, source, _type_label(ctx, raw), "rejected").inc()
        await _count_refused(ctx, principal, [(raw, exc)])
        raise
    finally:
        metrics.series(metrics.ingest_latency, "single").observe(time.perf_counter() - started)
    metrics.series(metrics.events_ingested, source, prepared.row["type"], outcome.kind).inc()
    if outcome.kind == "conflict":
        raise _conflict(outcome.event_id)
    return {
        "event_id": outcome.event_id,
        "status": outcome.status.value,
        "duplicate": outcome.kind == "duplicate",
        "redactions": prepared.redactions,
    }


def _check_batch_shape(raw: Any, max_events: int) -> list[Any]:
    items = raw.get("events") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise Unprocessable(
            'a batch is {"events": [event, …]} with at least one event',
            details=[{"field": "events", "message": "must be a non-empty list"}],
        )
    if len(items) > max_events:
        raise Unprocessable(
            f"a batch holds at most {max_events} events, got {len(items)}",
            details=[{"field": "events", "message": "too many events"}],
        )
    return items


async def ingest_batch(ctx: Ingest, principal: Principal, raw: Any) -> BatchAnswer:
    """Store up to `max_batch_events` events under one signature; each item is answered as a
    single POST /events would have been."""
    started = time.perf_counter()
    try:
        return await _ingest_items(ctx, principal, _check_batch_shape(raw, ctx.max_batch_events))
    finally:
        ctx.metrics.series(ctx.metrics.ingest_latency, "batch").observe(
            time.perf_counter() - started
        )


async def _ingest_items(ctx: Ingest, principal: Principal, items: list[Any]) -> BatchAnswer:
    now = ctx.clock.now()
    results: list[BatchItem | None] = [None] * len(items)
    prepared: list[tuple[int, PreparedEvent]] = []
    counts: Counter[tuple[str, str]] = Counter()  # (type, outcome)
    refused: list[tuple[Any, CTError]] = []
    checked = envelopes(items)  # every envelope at once, or None when one is invalid
    for index, item in enumerate(items):
        try:
            envelope = checked[index] if checked is not None else None
            prepared.append(
                (index, prepare_event(item, principal, ctx.catalog, now, envelope=envelope))
            )
        except CTError as exc:
            event_id = item.get("event_id", item.get("eventId")) if isinstance(item, dict) else None
            results[index] = _item(
                index, event_id if isinstance(event_id, str) else None, exc.status_code,
                error=exc.body()["error"],
            )  # fmt: skip
            counts[_type_label(ctx, item), "rejected"] += 1
            refused.append((item, exc))
    outcomes = await ctx.committer.submit([p.row for _, p in prepared]) if prepared else []
    await _count_refused(ctx, principal, refused)
    for (index, prep), outcome in zip(prepared, outcomes, strict=True):
        kind = outcome.kind
        counts[prep.row["type"], kind] += 1
        results[index] = _item(
            index, outcome.event_id, _ITEM_STATUS[kind], duplicate=kind == "duplicate",
            error=Conflict(_reused(outcome.event_id)).body()["error"]
            if kind == "conflict" else None,
        )  # fmt: skip
    source = principal.source or "unknown"
    by_kind = Counter[str]()
    for (etype, outcome_kind), count in counts.items():
        ctx.metrics.series(ctx.metrics.events_ingested, source, etype, outcome_kind).inc(count)
        by_kind[outcome_kind] += count
    return {
        "accepted": by_kind["accepted"],
        "duplicates": by_kind["duplicate"],
        "rejected": by_kind["rejected"] + by_kind["conflict"],
        "results": cast(list[BatchItem], results),  # every index was answered above
    }


async def _count_refused(
    ctx: Ingest, principal: Principal, refused: list[tuple[Any, CTError]]
) -> None:
    if ctx.refusals is None or not refused:
        return
    source = principal.source or "unknown"
    found = (refusal(principal.name, source, raw, exc) for raw, exc in refused)
    await ctx.refusals.record(Counter(r for r in found if r is not None), ctx.clock.now())


class EventAnswer(TypedDict):
    """An `IngestResult`, built as plain data like the batch answer."""

    event_id: str
    status: str
    duplicate: bool
    redactions: list[str]


class BatchItem(TypedDict):
    """A `BatchItemResult`: what a single POST /events would have answered for one item."""

    index: int
    event_id: str | None
    status: int
    duplicate: bool
    error: dict[str, Any] | None


class BatchAnswer(TypedDict):
    """A `BatchResult`, built as plain data: a batch answers up to 500 items, and a model per
    item cost more than storing the event."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItem]


def _item(
    index: int,
    event_id: str | None,
    status: int,
    *,
    duplicate: bool = False,
    error: dict[str, Any] | None = None,
) -> BatchItem:
    return {
        "index": index, "event_id": event_id, "status": status,
        "duplicate": duplicate, "error": error,
    }  # fmt: skip
