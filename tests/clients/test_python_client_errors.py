"""`report_errors` and `CTErrorHandler` turn an uncaught exception into `backend.fn.error`
with the function's name, a severity and a stack hash: never the stack text or the message."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from ct_producer import AsyncProducer, CTErrorHandler, Producer, report_errors

from tests.clients.conftest import FAST, LiveCT

SECRET_MESSAGE = "customer bob@example.com owes 4111 1111 1111 1111"
STACK_REF = re.compile(r"^sha256:[0-9a-f]{64}$")


class InvoiceError(Exception):
    pass


def reported_ref(error: BaseException) -> str:
    """The stack_ref the reporter noted on the exception, for finding the event."""
    notes = [n for n in getattr(error, "__notes__", []) if n.startswith("Control Tower stack_ref")]
    assert len(notes) == 1, "reported once, noted once"
    return notes[0].rsplit(" ", 1)[1]


def error_events(ct: LiveCT) -> list[dict[str, Any]]:
    return ct.stored(type="backend.fn.error")


def only_event_with(ct: LiveCT, ref: str) -> dict[str, Any]:
    [event] = [e for e in error_events(ct) if e["payload"].get("stack_ref") == ref]
    return event


def assert_no_stack_text(event: dict[str, Any]) -> None:
    text = repr(event)
    for leak in ("bob@example.com", "4111", "Traceback", "test_python_client_errors", ".py"):
        assert leak not in text


@pytest.fixture
def producer(ct: LiveCT) -> Iterator[Producer]:
    with ct.producer() as sync_producer:
        yield sync_producer


def test_the_decorator_reports_and_re_raises_the_same_exception(
    ct: LiveCT, producer: Producer
) -> None:
    @report_errors(producer, severity="critical")
    def generate_invoice(amount: int) -> int:
        raise InvoiceError(f"{SECRET_MESSAGE}, amount {amount}")

    with pytest.raises(InvoiceError, match="amount 12") as caught:
        generate_invoice(12)
    event = only_event_with(ct, reported_ref(caught.value))
    assert event["type"] == "backend.fn.error"
    assert event["source"] == "backend"
    assert event["payload"]["fn_name"] == "generate_invoice"
    assert event["payload"]["severity"] == "critical"
    assert STACK_REF.match(event["payload"]["stack_ref"])
    assert set(event["payload"]) == {"fn_name", "severity", "stack_ref"}
    assert_no_stack_text(event)


def test_a_function_that_succeeds_reports_nothing(ct: LiveCT, producer: Producer) -> None:
    before = len(error_events(ct))

    @report_errors(producer)
    def fine(value: int) -> int:
        return value * 2

    assert fine(21) == 42
    assert fine.__name__ == "fine"
    assert len(error_events(ct)) == before


def test_the_same_bug_twice_has_the_same_reference(ct: LiveCT, producer: Producer) -> None:
    @report_errors(producer, fn_name="nightlyExport")
    def export() -> None:
        raise KeyError(SECRET_MESSAGE)

    refs = []
    for _ in range(2):
        with pytest.raises(KeyError) as caught:
            export()
        refs.append(reported_ref(caught.value))
    assert refs[0] == refs[1]
    assert len([e for e in error_events(ct) if e["payload"]["stack_ref"] == refs[0]]) == 2
    assert only_event_with_name(ct, "nightlyExport")


def only_event_with_name(ct: LiveCT, name: str) -> bool:
    return any(e["payload"]["fn_name"] == name for e in error_events(ct))


def test_the_logging_handler_reports_logged_exceptions_only(ct: LiveCT, producer: Producer) -> None:
    logger = logging.getLogger("tests.clients.handler")
    logger.propagate = False
    handler = CTErrorHandler(producer, severity="medium")
    logger.addHandler(handler)
    before = len(error_events(ct))
    try:
        logger.error("no exception here, %s", SECRET_MESSAGE)
        try:
            {}["missing"]
        except KeyError:
            logger.exception("failed for %s", SECRET_MESSAGE)
            error: BaseException | None = None
        try:
            raise RuntimeError(SECRET_MESSAGE)
        except RuntimeError as raised:
            logger.exception("again", extra={"fn_name": "onPayment", "severity": "low"})
            error = raised
    finally:
        logger.removeHandler(handler)
    events = error_events(ct)
    assert len(events) == before + 2
    assert error is not None
    named = only_event_with(ct, reported_ref(error))
    assert (named["payload"]["fn_name"], named["payload"]["severity"]) == ("onPayment", "low")
    default = next(e for e in events if e["payload"]["fn_name"] != "onPayment")
    assert (
        default["payload"]["fn_name"] == "test_the_logging_handler_reports_logged_exceptions_only"
    )
    assert default["payload"]["severity"] == "medium"
    for event in events[:2]:
        assert_no_stack_text(event)


def test_an_exception_seen_by_the_decorator_and_the_handler_is_reported_once(
    ct: LiveCT, producer: Producer
) -> None:
    logger = logging.getLogger("tests.clients.once")
    logger.propagate = False
    handler = CTErrorHandler(producer)
    logger.addHandler(handler)

    @report_errors(producer)
    def job() -> None:
        raise OSError(SECRET_MESSAGE)

    before = len(error_events(ct))
    try:
        try:
            job()
        except OSError:
            logger.exception("job failed")
    finally:
        logger.removeHandler(handler)
    assert len(error_events(ct)) == before + 1


def test_when_ct_is_unreachable_the_original_exception_still_propagates(
    ct: LiveCT, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ct.producer(dead_url, max_attempts=1, backoff=FAST) as unreachable:

        @report_errors(unreachable)
        def boom() -> None:
            raise InvoiceError(SECRET_MESSAGE)

        with caplog.at_level(logging.WARNING, logger="ct_producer"), pytest.raises(InvoiceError):
            boom()
    assert "could not report an error to Control Tower" in caplog.text
    assert "bob@example.com" not in caplog.text


def test_async_functions_are_reported_through_either_producer(ct: LiveCT) -> None:
    async def scenario() -> list[BaseException]:
        raised = []
        async with AsyncProducer(
            ct.url, ct.token, ct.secret, source="backend", backoff=FAST
        ) as async_producer:

            @report_errors(async_producer, severity="low")
            async def on_upload() -> None:
                await asyncio.sleep(0)
                raise InvoiceError(SECRET_MESSAGE)

            with pytest.raises(InvoiceError) as first:
                await on_upload()
            raised.append(first.value)
        with ct.producer() as sync_producer:

            @report_errors(sync_producer)
            async def on_payment() -> None:
                raise InvoiceError(SECRET_MESSAGE)

            with pytest.raises(InvoiceError) as second:
                await on_payment()
            raised.append(second.value)
        return raised

    upload, payment = asyncio.run(scenario())
    assert only_event_with(ct, reported_ref(upload))["payload"]["fn_name"] == "on_upload"
    assert only_event_with(ct, reported_ref(payment))["payload"]["fn_name"] == "on_payment"


def test_a_plain_function_needs_a_sync_producer(ct: LiveCT) -> None:
    async def build() -> None:
        async with AsyncProducer(ct.url, ct.token, ct.secret, source="backend") as async_producer:
            with pytest.raises(TypeError, match="needs a Producer"):
                report_errors(async_producer)(lambda: None)
            with pytest.raises(ValueError, match="severity"):
                report_errors(async_producer, severity="urgent")  # type: ignore[arg-type]

    asyncio.run(build())
