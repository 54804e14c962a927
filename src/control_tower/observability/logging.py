"""JSON logs through structlog, with request and correlation ids, and never a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

# Keys whose values must never reach a log line, whoever passes them.
_FORBIDDEN_KEYS = {"token", "authorization", "secret", "hmac_secret", "payload", "body", "password"}


def _drop_secrets(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    lowered = [str(key).lower() for key in event]
    if _FORBIDDEN_KEYS.isdisjoint(lowered):  # nearly every line: nothing to look at twice
        return event
    for key, low in zip(list(event), lowered, strict=True):
        if low in _FORBIDDEN_KEYS:
            event[key] = "[omitted]"
    return event


class _UtcTimestamp:
    """structlog's `TimeStamper(fmt="iso", utc=True)` (`2026-12-06T17:47:26.123456Z`), with
    the date and time of day formatted once a second instead of on every line."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def __call__(
        self, _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = datetime.now(UTC)
        second = self._second  # one read: another thread may replace it meanwhile
        whole = int(now.timestamp())
        if second[0] != whole:
            second = self._second = (whole, now.strftime("%Y-%m-%dT%H:%M:%S"))
        # As isoformat() writes it: no fraction when the microseconds are zero.
        fraction = f".{now.microsecond:06d}" if now.microsecond else ""
        event["timestamp"] = f"{second[1]}{fraction}Z"
        return event


def _json_line(event: Any, default: Any = None, **_: Any) -> str:
    return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()


class _Stdout:
    """Whatever `sys.stdout` is when a line is written (test capture swaps it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_STDOUT = _Stdout()  # one object, so every logger shares structlog's per-file write lock


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, name: str) -> None:
        super().__init__(_STDOUT)  # type: ignore[arg-type]
        self.name = name


class CurrentLogger:
    """A structlog logger bound under the current configuration, bound again only after
    `configure_logging` has changed it. Loggers are not cached (see `configure_logging`), so
    a module-level `structlog.get_logger()` binds anew for every line: for the access line,
    written on every request, that cost more than rendering it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._processors: Any = None
        self._bound: Any = None

    def get(self) -> Any:
        processors = structlog.get_config()["processors"]  # a new list on every configure
        if processors is not self._processors:
            self._bound = structlog.get_logger(self._name).bind()
            self._processors = processors
        return self._bound


def _logger_factory(*args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(str(args[0]) if args else "control_tower")


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    """JSON lines on stdout, for CT's structlog loggers and the stdlib ones (uvicorn, …).

    CT's own loggers write straight to stdout; stdlib records go through the same processors
    via `ProcessorFormatter`, so every line has the same shape.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _UtcTimestamp(),
        _drop_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json_logs
        else structlog.dev.ConsoleRenderer()
    )
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # Not cached, so a later configure_logging (CLI, tests) reaches loggers already used.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(_STDOUT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # CT writes its own access line with the request id; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
