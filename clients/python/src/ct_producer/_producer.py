"""`Producer` (sync) and `AsyncProducer`: the same API over httpx's two clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from ct_producer import _flows
from ct_producer._errors import DeliveryError
from ct_producer._events import Envelope, Event, envelope
from ct_producer._protocol import USER_AGENT, Post, Reply, parse_json, request_headers
from ct_producer._results import BatchResult, FlushReport, Result
from ct_producer._retry import Backoff, is_retryable, parse_retry_after
from ct_producer._spool import Spool

T = TypeVar("T")
HEARTBEAT_TYPE = "system.heartbeat"
# Transient transport failures; an unsupported scheme or a bad URL is not worth retrying.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_LOCK_POLL_SECONDS = 0.05


class _Base:
    """What both producers hold, and how they turn arguments into envelopes."""

    def __init__(
        self,
        url: str,
        token: str,
        secret: str,
        *,
        source: str | None = None,
        timeout: float = 10.0,
        spool_dir: str | PathLike[str] | None = None,
        max_attempts: int = 5,
        backoff: Backoff = Backoff(),
        timestamped: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url.rstrip("/")
        self.source = source
        self._token = token
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._timestamped = timestamped
        self._spool = Spool(spool_dir) if spool_dir is not None else None
        self._http = self._open_http(timeout)

    def _open_http(self, timeout: float) -> Any:
        """The HTTP client this producer sends with (sync or async)."""
        raise NotImplementedError

    def __repr__(self) -> str:  # never the token or the secret
        return f"{type(self).__name__}(url={self.url!r}, source={self.source!r})"

    def _envelopes(self, events: Iterable[Event]) -> list[Envelope]:
        if self.source is None:
            raise ValueError(
                "this producer has no source: pass source= (the source its token is bound to)"
            )
        return [envelope(event, self.source) for event in events]

    @staticmethod
    @contextmanager
    def _naming_events(envelopes: list[Envelope]) -> Iterator[None]:
        """Attach the filled-in events to a `DeliveryError`, so the caller can re-send them."""
        try:
            yield
        except DeliveryError as error:
            by_id = {e.event_id: e.event for e in envelopes}
            error.events = tuple(by_id[i] for i in error.event_ids if i in by_id)
            raise

    def _attempt_headers(self, post: Post) -> dict[str, str]:
        return request_headers(self._token, self._secret, post.body, timestamped=self._timestamped)

    def _next_delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds before the next attempt, or None to stop trying."""
        if attempt >= self._max_attempts:
            return None
        retry_after = None if response is None else response.headers.get("retry-after")
        return self._backoff.delay(attempt, parse_retry_after(retry_after))


def _failure(response: httpx.Response | None, error: Exception | None) -> str:
    if response is not None:
        return f"HTTP {response.status_code}"
    return f"{type(error).__name__}: {error}"


def _heartbeat_event(system_id: str, version: str | None) -> Event:
    payload = (
        {"system_id": system_id}
        if version is None
        else {"system_id": system_id, "version": version}
    )
    return Event(HEARTBEAT_TYPE, payload)


class Producer(_Base):
    """Sends events to Control Tower: signed, with a ULID `event_id` unless given, retried with
    the same id and body on 5xx, 429 (after `Retry-After`), timeouts and lost connections.

    With `spool_dir`, `send` first writes the event durably to that directory, then delivers
    everything waiting there, oldest first; what CT did not acknowledge stays for the next call,
    `flush()` or `ct-producer flush`. Use it as a context manager, or call `close()`.
    """

    _http: httpx.Client

    def _open_http(self, timeout: float) -> httpx.Client:
        return httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})

    def send(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        occurred_at: datetime | str | None = None,
        correlation_id: str | None = None,
    ) -> Result:
        """Send one event. Raises `RejectedError` (a 4xx other than 429; `ConflictError` for a
        409) and, without a spool, `DeliveryError` when no attempt was acknowledged."""
        event = Event(type, payload or {}, event_id, occurred_at, correlation_id)
        if self._spool is None:
            envelopes = self._envelopes([event])
            with self._naming_events(envelopes):
                return self._run(_flows.send_direct(envelopes[0]))
        return _flows.raise_if_rejected(self._send_spooled([event])[0])

    def send_batch(self, events: Iterable[Event]) -> BatchResult:
        """Send events through `POST /events/batch` (cut into batches CT accepts); one `Result`
        per event, rejected ones included (a refused event does not raise here)."""
        events = list(events)
        if self._spool is None:
            envelopes = self._envelopes(events)
            with self._naming_events(envelopes):
                return self._run(_flows.send_batch_direct(envelopes))
        return self._send_spooled(events)

    def heartbeat(self, system_id: str, version: str | None = None) -> Result:
        """Send `system.heartbeat` for a system of the catalogue."""
        event = _heartbeat_event(system_id, version)
        return self.send(event.type, event.payload)

    def flush(self) -> FlushReport:
        """Deliver what waits in the spool, oldest first (nothing to do without a spool)."""
        if self._spool is None:
            return FlushReport(0, 0, 0)
        with self._spool.locked():
            return self._run(_flows.flush(self._spool)).report()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send_spooled(self, events: list[Event]) -> BatchResult:
        assert self._spool is not None
        envelopes = self._envelopes(events)
        names = self._spool.put(envelopes)
        with self._spool.locked():
            ids = [e.event_id for e in envelopes]
            return self._run(_flows.send_spooled(self._spool, names, ids))

    def _run(self, steps: Generator[Post, Reply, T]) -> T:
        try:
            post = next(steps)
            while True:
                post = steps.send(self._post(post))
        except StopIteration as done:
            return cast(T, done.value)

    def _post(self, post: Post) -> Reply:
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = self._http.post(
                    self.url + post.path, content=post.body, headers=self._attempt_headers(post)
                )
            except _TRANSIENT as exc:
                error = exc
            if response is not None and not is_retryable(response.status_code):
                return Reply(response.status_code, parse_json(response.content), attempt)
            delay = self._next_delay(attempt, response)
            if delay is None:
                return Reply(None, None, attempt, _failure(response, error))
            time.sleep(delay)


class AsyncProducer(_Base):
    """`Producer`'s API for asyncio: `await producer.send(...)`. Close with `await aclose()`
    or `async with`."""

    _http: httpx.AsyncClient

    def _open_http(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, headers={"User-Agent": USER_AGENT})

    async def send(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        occurred_at: datetime | str | None = None,
        correlation_id: str | None = None,
    ) -> Result:
        """As `Producer.send`."""
        event = Event(type, payload or {}, event_id, occurred_at, correlation_id)
        if self._spool is None:
            envelopes = self._envelopes([event])
            with self._naming_events(envelopes):
                return await self._run(_flows.send_direct(envelopes[0]))
        return _flows.raise_if_rejected((await self._send_spooled([event]))[0])

    async def send_batch(self, events: Iterable[Event]) -> BatchResult:
        """As `Producer.send_batch`."""
        events = list(events)
        if self._spool is None:
            envelopes = self._envelopes(events)
            with self._naming_events(envelopes):
                return await self._run(_flows.send_batch_direct(envelopes))
        return await self._send_spooled(events)

    async def heartbeat(self, system_id: str, version: str | None = None) -> Result:
        event = _heartbeat_event(system_id, version)
        return await self.send(event.type, event.payload)

    async def flush(self) -> FlushReport:
        if self._spool is None:
            return FlushReport(0, 0, 0)
        async with self._locked(self._spool):
            return (await self._run(_flows.flush(self._spool))).report()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send_spooled(self, events: list[Event]) -> BatchResult:
        spool = self._spool
        assert spool is not None
        envelopes = self._envelopes(events)
        names = await asyncio.to_thread(spool.put, envelopes)  # fsync off the event loop
        async with self._locked(spool):
            ids = [e.event_id for e in envelopes]
            return await self._run(_flows.send_spooled(spool, names, ids))

    @staticmethod
    @asynccontextmanager
    async def _locked(spool: Spool) -> AsyncIterator[None]:
        while (fd := spool.try_lock()) is None:
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            spool.unlock(fd)

    async def _run(self, steps: Generator[Post, Reply, T]) -> T:
        try:
            post = next(steps)
            while True:
                post = steps.send(await self._post(post))
        except StopIteration as done:
            return cast(T, done.value)

    async def _post(self, post: Post) -> Reply:
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = await self._http.post(
                    self.url + post.path, content=post.body, headers=self._attempt_headers(post)
                )
            except _TRANSIENT as exc:
                error = exc
            if response is not None and not is_retryable(response.status_code):
                return Reply(response.status_code, parse_json(response.content), attempt)
            delay = self._next_delay(attempt, response)
            if delay is None:
                return Reply(None, None, attempt, _failure(response, error))
            await asyncio.sleep(delay)
