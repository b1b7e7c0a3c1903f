"""Request recording and fault injection shared by the emulators.

``EmulatorMiddleware`` wraps an emulator app: it records each request in a ``RequestLog`` (with its
arrival time) and, when a ``FaultRule`` matches, answers with the injected fault instead of the
real handler.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.emulators.server import LoopbackServer


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    body: bytes = b""
    # When it arrived (time.monotonic(), the clock every process of the machine shares): the
    # spacing of retries and of rate-limited requests is read from it.
    at: float = 0.0

    @property
    def params(self) -> dict[str, str]:
        """Query parameters as a dict (the last value wins, as Rails does)."""
        return dict(self.query)

    @property
    def query_string(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.query)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class RequestLog:
    """Every request an emulator has received, oldest first. Safe to read from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def matching(self, path_prefix: str = "", method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        ]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._requests)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.requests)


@dataclass
class FaultRule:
    """What to do instead of answering normally, for requests whose path matches ``path``.

    ``path`` is a regular expression searched in the request path. ``status`` with ``body`` (and
    ``headers``, e.g. ``{"Retry-After": "1"}``) replaces the answer; ``delay_s`` delays it
    (latency); ``hang`` never answers until the server stops; ``times`` limits how many requests
    the rule applies to (None: all). A rule that has applied ``times`` times no longer matches, so
    later requests get the emulator's real answer: ``inject(path, status=503, times=2)`` fails
    twice, then lets requests through.
    """

    path: str = ""
    status: int | None = None
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False
    times: int | None = None
    hits: int = 0

    def matches(self, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.path, path) is not None


@dataclass
class Faults:
    """The fault rules in force for one emulator; the first matching rule applies."""

    rules: list[FaultRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def inject(self, path: str = "", **kwargs: object) -> FaultRule:
        """Shorthand: ``faults.inject("/classifications", status=503)``."""
        return self.add(FaultRule(path=path, **kwargs))  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(path):
                    rule.hits += 1
                    return rule
        return None


class EmulatorMiddleware:
    """Records every HTTP request, then applies a matching fault or calls the emulator."""

    def __init__(self, app: ASGIApp, log: RequestLog, faults: Faults) -> None:
        self.app = app
        self.log = log
        self.faults = faults
        # Set when the server shuts down, so hanging requests end with it.
        self.stopping = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = tuple(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        arrived = time.monotonic()
        self.log.append(RecordedRequest(scope["method"], scope["path"], query, headers, body, arrived))

        rule = self.faults.take(scope["path"])
        if rule is not None:
            if rule.delay_s:
                await asyncio.sleep(rule.delay_s)  # injected latency is the behaviour under test
            if rule.hang:
                await self.stopping.wait()
                return
            if rule.status is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": rule.status,
                        "headers": [
                            (b"content-type", rule.content_type.encode()),
                            *((k.lower().encode(), v.encode()) for k, v in rule.headers.items()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": rule.body})
                return

        sent_body = False

        async def replay() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@dataclass
class EmulatorApp:
    """An emulator ready to serve: its ASGI app (already wrapped), request log and fault rules."""

    app: ASGIApp
    log: RequestLog
    faults: Faults
    middleware: EmulatorMiddleware

    @classmethod
    def wrap(cls, inner: ASGIApp) -> EmulatorApp:
        log, faults = RequestLog(), Faults()
        middleware = EmulatorMiddleware(inner, log, faults)
        return cls(app=middleware, log=log, faults=faults, middleware=middleware)

    def serve(self, port: int = 0) -> LoopbackServer:
        """Start serving on a loopback port; hanging requests are released when it stops."""
        server = LoopbackServer(self.app, port=port)
        server.stop_events(self.middleware.stopping)
        return server.start()
