"""Serving the app with uvicorn: the production HTTP stack, one process or several on one socket.

httptools and uvloop (``uvicorn[standard]``) parse HTTP and run the loop several times faster than
the pure-Python defaults. No access log line per request unless the log level is ``debug``; uvicorn's
own lines go through the gateway's log handler, in its format (``gateway.telemetry.logs``).

uvicorn closes idle keep-alive connections, but not one that never finishes its request: a client
sending its headers (or body) a byte at a time would hold a connection and its memory forever.
``BoundedHttpToolsProtocol`` gives every request a deadline for its headers and another for its
body, and closes the connection when one passes.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from gateway.settings import Settings
from gateway.telemetry import logs


class GatewayConfig(uvicorn.Config):
    """uvicorn's configuration, with the deadlines of a request's headers and body."""

    def __init__(self, app: Any, *, header_timeout_s: float, body_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s


class CoalescingTransport:
    """A connection's transport that sends what one step of the event loop wrote as one write.

    uvicorn writes a response's status line and headers when the app sends ``http.response.start``
    and its body when it sends ``http.response.body``: two ``send()`` system calls per response
    (and two segments on the wire) where one will do. Writes are joined until the end of the
    current callback (``call_soon``); closing first sends what is held, aborting drops it (as the
    transport's own abort drops its buffer). Everything else is the transport's own. Measured:
    a third more answers per second from the response cache (bench/README.md).
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol, closing connections whose request does not arrive in time, and sending
    each response in one write (``CoalescingTransport``).

    A request's deadline moves twice (headers, then body) and is dropped once it is read: a timer
    made and cancelled for each would cost every request three timer operations. One timer per
    connection instead wakes at the earliest deadline it may have to enforce, and on waking either
    closes the connection or sleeps again until the deadline in force (typically once per
    ``header_timeout_s`` on a busy keep-alive connection).
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout_s: float = getattr(config, "header_timeout_s", 10.0)
        self._body_timeout_s: float = getattr(config, "body_timeout_s", 30.0)
        self._deadline: float | None = None  # loop time by which the request must be read
        self._timer: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        deadline = self._deadline = self.loop.time() + seconds
        timer = self._timer
        if timer is None or deadline < timer.when():
            self._wake_at(deadline)

    def _disarm(self) -> None:
        self._deadline = None  # the timer finds nothing to enforce when it wakes

    def _wake_at(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._check)

    def _check(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._wake_at(deadline)
        elif not self.transport.is_closing():
            self._deadline = None
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm(self._header_timeout_s)  # a connection that never sends a request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self._header_timeout_s)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self._body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def send_400_response(self, msg: str) -> None:
        """Requests the parser rejects (an unknown method, a control character in a header) get a
        GraphQL-shaped JSON answer too, not uvicorn's plain text."""
        body = orjson.dumps(
            {"errors": [{"message": f"Malformed HTTP request: {msg}", "extensions": {"code": "BAD_REQUEST"}}]}
        )
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        self.transport.close()


def tune_interpreter() -> None:
    """Collect garbage less often, never look at what start-up made again, and hand the event loop
    the interpreter quickly when a worker thread holds it.

    A request allocates thousands of short-lived objects: with the default threshold (700) the
    collector ran several times per request and, every so often, walked the whole heap (caches
    included). Measured: a third of the CPU of a six-call query (bench/README.md). Ten thousand
    allocations between young collections keeps that gain (the uncached paths measured the same CPU
    per request as with 50,000, or less) while each collection walks a fifth as much: p99 of
    authenticated queries fell from 58-96 ms to 33-50 ms, and the longest stop beside a run of
    200-alias operations from 247 ms to 60 (bench/README.md). The older generations are looked at
    every ten collections of the younger: objects that outlive one collection (cycles of a request
    still in flight) then wait seconds, not minutes, to be freed.

    Long new documents are validated in a worker thread; while it runs, the event loop's thread
    waits for the interpreter lock up to the switch interval (5 ms by default) at every turn. At
    1 ms, /healthz beside a 32 KB document answers at 3-4 ms p50 and 10 ms p99 instead of 9-13 and
    21-25 (bench/README.md). With one thread running, the interval costs nothing.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    sys.setswitchinterval(0.001)


def config(settings: Settings, *, host: str, port: int, demo: bool = False) -> GatewayConfig:
    """uvicorn's configuration for these settings (one process: the app itself; several: by import)."""
    from gateway.app import create_app
    from gateway.examples import demo_headers

    app: object = "gateway.asgi:app"
    if settings.workers == 1:
        app = create_app(settings, explorer_headers=demo_headers() if demo else None)
    return GatewayConfig(
        app,
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        host=host,
        port=port,
        workers=settings.workers,  # always given: uvicorn would otherwise read WEB_CONCURRENCY
        http="gateway.server:BoundedHttpToolsProtocol",  # by name: worker processes import it
        loop="uvloop",
        lifespan="on",
        proxy_headers=False,  # nothing here reads the client's address
        server_header=False,
        log_level=logs.level_of(settings.log_level),
        log_config=None,  # the gateway's handler (logs.configure), not uvicorn's formatters
        access_log=settings.log_level in ("debug", "trace"),
        timeout_keep_alive=int(max(1, settings.http_keepalive_timeout_s)),
        timeout_graceful_shutdown=int(max(1, settings.shutdown_timeout_s)),
    )


def run(settings: Settings, *, host: str, port: int, demo: bool = False) -> int:
    logs.configure(settings.log_level, settings.log_format)
    server_config = config(settings, host=host, port=port, demo=demo)
    tune_interpreter()
    if settings.workers == 1:
        uvicorn.Server(server_config).run()
        return 0
    # Each worker imports gateway.asgi:app; the supervisor restarts any that die.
    Multiprocess(server_config, sockets=[server_config.bind_socket()]).run()
    return 0
