"""Logs: one line per GraphQL operation, in text or JSON (``GATEWAY_LOG_FORMAT``), with request ids.

Every HTTP response carries ``X-Request-Id``: the caller's, when it is a sane token (at most 128
letters, digits and ``._:+/=-``), else one made here. Every log line written while a request is
answered carries it too (``request_id``), read from a context variable the view sets.

At INFO each operation writes one line (``gateway.operation``): its name and type, outcome,
duration, upstream calls and their cache results, error codes. Answers served whole from the
response cache write theirs at DEBUG only, so the hot path writes nothing by default. Upstream URLs
(which hold ids and dates) are logged at DEBUG only; uvicorn's access line only at DEBUG.

Credentials are never logged: nothing here is given one, and as a last guard every line is scrubbed
of anything shaped like an ``Authorization`` value or a URL's password before it is written.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson

if TYPE_CHECKING:
    from gateway.telemetry.metrics import Metrics

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
HEADER = b"x-request-id"

operation_log = logging.getLogger("gateway.operation")

_SANE = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")
# Unique across processes (a random prefix per process), cheap to make (a counter).
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def request_id(given: bytes | None) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a new one."""
    if given and _SANE.fullmatch(given):
        return given.decode("ascii")
    return f"{_PREFIX}{next(_COUNTER):08x}"


# ---------------------------------------------------------------- the operation line


def cache_results(outcomes: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """(source, cache result) pairs -> {source: {result: count}}."""
    found: dict[str, dict[str, int]] = {}
    for source, outcome in outcomes:
        results = found.setdefault(source, {})
        results[outcome] = results.get(outcome, 0) + 1
    return found


def report_operation(
    metrics: Metrics,
    level: int,
    outcome: str,
    started: float,
    *,
    name: str | None = None,
    kind: str | None = None,
    calls: Iterable[tuple[str, str]] = (),
    errors: Iterable[dict[str, Any]] = (),
    refusals: int = 0,
    trace_id: Callable[[], str | None] | None = None,
) -> None:
    """What operators see of one operation: its metrics, and its line at ``level`` if that is
    logged. ``started``: ``time.perf_counter()`` when it began; ``errors``: as answered;
    ``trace_id``: reads the current trace's id (None: tracing is off)."""
    seconds = time.perf_counter() - started
    metrics.operation(outcome, seconds)
    if refusals:
        metrics.budget_refusal(refusals)
    if operation_log.isEnabledFor(level):
        log_operation(
            level,
            name=name,
            kind=kind,
            outcome=outcome,
            seconds=seconds,
            calls=calls,
            errors=[str((e.get("extensions") or {}).get("code", "")) for e in errors],
            refusals=refusals,
            trace_id=None if trace_id is None else trace_id(),
        )


def log_operation(
    level: int,
    *,
    name: str | None = None,
    kind: str | None = None,
    outcome: str,
    seconds: float,
    calls: Iterable[tuple[str, str]] = (),
    errors: Iterable[str] = (),
    refusals: int = 0,
    trace_id: str | None = None,
) -> None:
    """One operation's line; ``calls``: (source, cache result) of each upstream call."""
    cache = cache_results(calls)
    count = sum(sum(r.values()) for r in cache.values())
    fields: dict[str, Any] = {
        "operation": name,
        "operation_type": kind,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 3),
        "upstream_calls": count,
        "cache": cache,
        "errors": sorted(set(errors)),
    }
    if refusals:
        fields["budget_refusals"] = refusals
    if trace_id:
        fields["trace_id"] = trace_id
    what = f"{kind or 'operation'} {name}" if name else kind or "operation"
    # Written out rather than left to logging's %-formatting: the line is made whenever it is logged.
    message = f"{what} {outcome} in {seconds * 1000:.1f} ms, {count} upstream call(s)"
    operation_log.log(level, message, extra={"fields": fields})


# ---------------------------------------------------------------- formatting

_CREDENTIAL = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)
_USERINFO = re.compile(r"(://)[^/@\s]*@")


def scrub(text: str) -> str:
    """``text`` without Authorization-shaped values or URL user information."""
    if "://" in text:
        text = _USERINFO.sub(r"\1[redacted]@", text)
    lowered = text.lower()  # a look for the words first: most lines hold neither, and this is cheaper
    if "bearer" in lowered or "basic" in lowered:
        return _CREDENTIAL.sub(r"\1\2[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            line["request_id"] = rid
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return scrub(orjson.dumps(line, default=str).decode())


def _text_fields(fields: dict[str, Any]) -> str:
    """`` key=value`` for each field that has a value; nested mappings as ``a:b=1,c=2``."""
    # One loop with the exact types first: most values are plain text and numbers. (A generator
    # calling a helper per field cost a third of each line.)
    text = ""
    for key, value in fields.items():
        kind = type(value)
        if kind is str or kind is int or kind is float:
            text += f" {key}={value}"
        elif kind is dict:
            if value:  # empty mappings and lists are left out, as None is
                text += f" {key}={_nested(value)}"
        elif kind is list or kind is tuple:
            if value:
                text += f" {key}=" + ",".join(map(str, value))
        elif value is not None:
            text += f" {key}={value}"
    return text


def _nested(value: dict[str, Any]) -> str:
    return ",".join(f"{k}:{_nested(v)}" if type(v) is dict else f"{k}={v}" for k, v in value.items())


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``."""

    def __init__(self) -> None:
        super().__init__()  # the line's shape is written out in format()
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As logging's, with the seconds' text made once a second rather than once a line."""
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format's steps, with the format string's fixed shape written out: its
        # generic %-style formatting of the record's whole __dict__ was a third of each line.
        record.message = record.getMessage()
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.message}"
        extra = ""
        rid = getattr(record, "request_id", "")
        if rid:
            extra = f" request_id={rid}"
        fields = getattr(record, "fields", None)
        if fields:
            extra += _text_fields(fields)
        if extra:
            first, newline, rest = text.partition("\n")  # after a message's first line
            text = f"{first}{extra}{newline}{rest}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return scrub(text)


class RequestIdFilter(logging.Filter):
    """Gives each record the id of the request being answered, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``fmt`` (``json`` or ``text``) lines to ``stream`` (stderr)."""
    found = logging.StreamHandler(stream or sys.stderr)
    found.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    found.addFilter(RequestIdFilter())
    return found


def level_of(name: str) -> int:
    """A log level by name; ``trace`` is uvicorn's own, below DEBUG."""
    return 5 if name == "trace" else logging.getLevelNamesMapping()[name.upper()]


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """The process's logging: every logger (uvicorn's included) through one handler on the root."""
    numeric = level_of(level)
    debug = numeric <= logging.DEBUG
    # No format here shows the thread, the process or the calling line: not gathering them saves
    # a tenth of what each record costs (the logging HOWTO's "Optimization").
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler(fmt, stream))
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = debug
    access.disabled = not debug
    # Libraries that would log each upstream URL at INFO: DEBUG only, as the gateway's own lines.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(numeric if debug else logging.WARNING)
