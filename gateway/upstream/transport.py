"""The HTTP transport under every upstream call: HTTP/1.1 on the event loop's sockets, behind httpx.

Every upstream call is one small request and one JSON answer on a kept-alive connection. httpx's
own pool (httpcore) parses HTTP in pure Python and scans every connection for every queued
request; aiohttp's client, behind an adapter, was a fifth cheaper but still spent 160 us of CPU
per call on this path in its session machinery (cookies, redirects, tracing signals, timeouts,
its stream reader), which the gateway uses none of. Here a request is written in one piece to a
pooled connection and its answer parsed by llhttp (``httptools``, which uvicorn parses the
gateway's own requests with) straight into an ``httpx.Response``: 50 us (bench/README.md).

The httpx request/response types and the transport seam stay, so tests still plug in
``httpx.MockTransport``. What it does not do, because no upstream call needs it: proxies,
redirects (an upstream that redirects answered unexpectedly), HTTP/2, ``Expect: 100-continue``,
streaming bodies (each body is read whole). Compressed bodies are handed over as sent: httpx
decodes ``Content-Encoding`` as it would its own. Failures cross into the gateway as httpx's
errors: ``ConnectError`` (refused, unresolvable, TLS refused), ``RemoteProtocolError`` (dropped or
unreadable answer). Deadlines are the caller's: a request cancelled midway closes its connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import cast

import httptools
import httpx

Origin = tuple[str, str, int]  # scheme, host, port
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UpstreamTransport(httpx.AsyncBaseTransport):
    """Sends ``httpx.Request``s over pooled HTTP/1.1 connections; answers complete responses.

    At most ``max_connections`` are open at once (callers beyond wait for one); a connection idle
    for ``keepalive_s`` is closed instead of reused. ``ssl_context`` verifies HTTPS upstreams (the
    system's trusted certificates when not given).
    """

    def __init__(
        self, *, max_connections: int, keepalive_s: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Only http and https URLs are sent, not {url}.", request=request)
        body = await request.aread()
        message = _message(request, body)
        origin = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])
        connection = await self._connection(origin, request)
        try:
            status, headers, content, encoded = await connection.exchange(
                message, head_only=request.method == "HEAD"
            )
        except BaseException as exc:
            self._close(connection)  # cancelled or failed midway: its state is unknown
            if isinstance(exc, httpx.RequestError):
                exc.request = request
            raise
        if connection.reusable:
            self._keep(origin, connection)
        else:
            self._close(connection)
        response = httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))
        if not encoded:
            # Read already: httpx's own reading (its byte iterators and identity decoder) would
            # only copy it. Were httpx to keep read bodies under another name, aread() would read
            # the stream above: slower, never wrong.
            response._content = content
        return response

    async def _connection(self, origin: Origin, request: httpx.Request) -> _Connection:
        """An idle connection to ``origin`` (the most recently used, warmest), else a new one."""
        while True:
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if connection.reusable and time.monotonic() - connection.idle_since < self._keepalive_s:
                    return connection
                self._close(connection)
            if len(self._open) < self._max_connections:
                return await self._connect(origin, request)
            if not self._close_one_idle():
                waiter = asyncio.get_running_loop().create_future()
                self._waiting.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._wake()  # the turn it was given goes to the next in line
                    else:
                        self._waiting.remove(waiter)
                    raise

    async def _connect(self, origin: Origin, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        self._open.add(connection)  # the slot is held while connecting
        try:
            context = self._tls() if scheme == "https" else None
            await loop.create_connection(
                lambda: connection, host, port, ssl=context, server_hostname=host if context else None
            )
        except BaseException as exc:
            self._open.discard(connection)
            self._wake()
            if isinstance(exc, OSError):  # refused, unreachable, unresolvable, TLS handshake
                raise httpx.ConnectError(f"{exc} ({host}:{port})", request=request) from exc
            raise
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()  # made once: it reads the trust store
        return self._ssl_context

    def _keep(self, origin: Origin, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(connection)
        self._wake()

    def _close(self, connection: _Connection) -> None:
        connection.close()
        if connection in self._open:
            self._open.discard(connection)
            self._wake()

    def _close_one_idle(self) -> bool:
        """Makes room for another origin's connection: closes an idle one, if there is one."""
        for idle in self._idle.values():
            if idle:
                self._close(idle.pop(0))
                return True
        return False

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Closes every connection, and returns once their sockets are closed (at most a second)."""
        closing = list(self._open)
        for connection in closing:
            self._close(connection)
        self._idle.clear()
        lost = [c.lost for c in closing if c.connected]
        if lost:
            await asyncio.wait(lost, timeout=1.0)


def _message(request: httpx.Request, body: bytes) -> bytes:
    """The request on the wire: its line, its headers (Host and Content-Length where missing), body."""
    headers = request.headers.raw
    names = {name.lower() for name, _ in headers}
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    if b"host" not in names:
        lines.append(b"Host: " + request.url.netloc)
    lines.extend(name + b": " + value for name, value in headers)
    if (body or request.method in ("POST", "PUT", "PATCH")) and b"content-length" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    head = b"\r\n".join(lines)
    if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:
        # A line break inside a header value would start a header (or a request) of its own.
        raise httpx.LocalProtocolError("A header value holds a line break.", request=request)
    return head + b"\r\n\r\n" + body


Answer = tuple[int, list[tuple[bytes, bytes]], bytes, bool]  # status, headers, body, encoded


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, its answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._head_only = False
        self._until_close = False  # an answer without a length ends when the connection does
        self._encoded = False  # the answer has a Content-Encoding (httpx decodes it)
        self.reusable = True
        self.idle_since = 0.0
        self.lost: asyncio.Future[None] = loop.create_future()  # done once the socket is closed

    @property
    def connected(self) -> bool:
        return self._transport is not None

    async def exchange(self, message: bytes, *, head_only: bool = False) -> Answer:
        assert self._transport is not None, "exchanged on before connecting"
        self._headers, self._body, self._head_only, self._encoded = [], [], head_only, False
        waiter: asyncio.Future[Answer] = self._loop.create_future()
        self._waiter = waiter
        self._transport.write(message)
        try:
            return await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses

    def _awaited(self) -> asyncio.Future[Answer] | None:
        """The exchange's future while an answer is awaited, else None."""
        waiter = self._waiter
        return None if waiter is None or waiter.done() else waiter

    def data_received(self, data: bytes) -> None:
        if self._awaited() is None:  # bytes nobody asked for: what follows cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"The upstream's answer is not readable HTTP ({exc}).")

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if not self.lost.done():
            self.lost.set_result(None)
        if self._awaited() is not None:
            if self._until_close:
                self._answer()
            else:
                self._fail("The upstream closed the connection before its answer was complete.")

    # ------------------------------------------------------------ httptools' callbacks

    def on_message_begin(self) -> None:
        if self._awaited() is None:  # a second answer to one request: not to be trusted
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._head_only:
            self.reusable = False  # a HEAD answer has no body to wait for; its connection is not reused
            self._answer()
            return
        names = {name.lower() for name, _ in self._headers}
        self._encoded = b"content-encoding" in names
        status = self._parser.get_status_code()
        self._until_close = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and status >= 200
            and status not in (204, 304)
        )

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:  # informational: the answer follows
            self._headers, self._body = [], []
            return
        self._until_close = False
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._answer()

    def _answer(self) -> None:
        waiter = self._awaited()
        if waiter is not None:
            answer = (self._parser.get_status_code(), self._headers, b"".join(self._body), self._encoded)
            waiter.set_result(answer)

    def _fail(self, why: str) -> None:
        self.close()
        waiter = self._awaited()
        if waiter is not None:
            waiter.set_exception(httpx.RemoteProtocolError(why))
