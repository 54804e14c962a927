"""Uncaught exceptions as `backend.fn.error` events, with no stack text and no message.

An event says which function failed, how badly, and a `stack_ref`: a SHA-256 over the
exception's type and its frames (file name, function, line), never over the message or local
values, which may hold personal data. The same bug gives the same reference, so CT can group
it, and the reference is added to the exception as a note, so the traceback in the service's
own logs can be found from the event. An exception is reported once, however many decorators
and handlers see it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from ct_producer._events import SEVERITIES, Severity
from ct_producer._producer import AsyncProducer, Producer

P = ParamSpec("P")
R = TypeVar("R")
ERROR_EVENT_TYPE = "backend.fn.error"
FN_NAME_MAX = 128  # the catalogue's identifier length
_REF_ATTRIBUTE = "_ct_stack_ref"
_log = logging.getLogger("ct_producer")


def stack_ref(error: BaseException) -> str:
    """`sha256:<hex>` of the exception's type and frames; the same for the same failure."""
    kind = type(error)
    digest = hashlib.sha256(f"{kind.__module__}.{kind.__qualname__}\n".encode())
    for frame, line in traceback.walk_tb(error.__traceback__):
        code = frame.f_code
        digest.update(f"{os.path.basename(code.co_filename)}:{code.co_qualname}:{line}\n".encode())
    return "sha256:" + digest.hexdigest()


def _claim(error: BaseException) -> str | None:
    """The stack reference if this exception was not reported yet (and mark it), else None."""
    if getattr(error, _REF_ATTRIBUTE, None) is not None:
        return None
    ref = stack_ref(error)
    try:
        setattr(error, _REF_ATTRIBUTE, ref)
        error.add_note(f"Control Tower stack_ref: {ref}")
    except (AttributeError, TypeError):  # an exception type that takes no attributes
        pass
    return ref


def _payload(fn_name: str, severity: Severity, ref: str) -> dict[str, Any]:
    return {"fn_name": fn_name[:FN_NAME_MAX] or "unknown", "severity": severity, "stack_ref": ref}


def _check_severity(severity: str) -> Severity:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
    return severity


def _warn(error: Exception) -> None:
    # Our own failure only (CT unreachable, refused): never the reported exception's message.
    _log.warning("could not report an error to Control Tower: %s", error)


def _report(producer: Producer, error: BaseException, fn_name: str, severity: Severity) -> None:
    ref = _claim(error)
    if ref is None:
        return
    try:
        producer.send(ERROR_EVENT_TYPE, _payload(fn_name, severity, ref))
    except Exception as failure:
        _warn(failure)


async def _report_async(
    producer: Producer | AsyncProducer, error: BaseException, fn_name: str, severity: Severity
) -> None:
    ref = _claim(error)
    if ref is None:
        return
    payload = _payload(fn_name, severity, ref)
    try:
        if isinstance(producer, AsyncProducer):
            await producer.send(ERROR_EVENT_TYPE, payload)
        else:
            await asyncio.to_thread(producer.send, ERROR_EVENT_TYPE, payload)
    except Exception as failure:
        _warn(failure)


def report_errors(
    producer: Producer | AsyncProducer,
    severity: Severity = "high",
    *,
    fn_name: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function (sync, or async) so that an exception escaping it is sent as
    `backend.fn.error` and then re-raised unchanged. A failure to report it is logged on the
    `ct_producer` logger and never hides the original exception. A plain function needs a
    `Producer`; an async one takes either."""
    checked = _check_severity(severity)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = fn_name or getattr(func, "__name__", "") or "unknown"
        if inspect.iscoroutinefunction(func):
            coroutine_function = func  # narrowed: a function returning a coroutine

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await coroutine_function(*args, **kwargs)
                except Exception as error:
                    await _report_async(producer, error, name, checked)
                    raise

            return cast(Callable[P, R], async_wrapper)
        if not isinstance(producer, Producer):
            raise TypeError(
                "report_errors on a plain function needs a Producer, not an AsyncProducer"
            )
        sync_producer = producer

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except Exception as error:
                _report(sync_producer, error, name, checked)
                raise

        return wrapper

    return decorate


class CTErrorHandler(logging.Handler):
    """A logging handler that sends each logged exception (`logger.exception(...)`, or any
    record with `exc_info`) as `backend.fn.error`; records without one are ignored. The
    function name is the record's `extra={"fn_name": ...}`, else `fn_name` given here, else
    the logging function's name; `extra={"severity": ...}` overrides the default severity.
    It sends synchronously (give the producer a `spool_dir` and few `max_attempts` to keep
    logging fast while CT is away)."""

    def __init__(
        self,
        producer: Producer,
        *,
        severity: Severity = "high",
        fn_name: str | None = None,
        level: int = logging.ERROR,
    ) -> None:
        super().__init__(level)
        self.producer = producer
        self.severity = _check_severity(severity)
        self.fn_name = fn_name
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, Exception) or getattr(self._busy, "active", False):
            return
        self._busy.active = True  # a record logged while reporting must not report again
        try:
            severity = getattr(record, "severity", None)
            if severity not in SEVERITIES:
                severity = self.severity
            name = getattr(record, "fn_name", None) or self.fn_name or record.funcName
            _report(self.producer, error, str(name), cast(Severity, severity))
        finally:
            self._busy.active = False
