"""The HTTP transport under every upstream call: aiohttp's connection pool behind httpx's API.

httpx's own pool (httpcore) scans every connection for every queued request and parses HTTP in
pure Python; aiohttp's pool and C parser cost about a fifth of the CPU per call (bench/README.md).
The httpx request/response types and the transport seam stay, so tests still plug in
``httpx.MockTransport``.

The gateway reads every upstream body whole, so the body is read here, in the one ``async with``
that sends the request, and handed to httpx already complete: streaming it through httpx's byte
iterators (as the general-purpose ``httpx-aiohttp`` adapter does) cost another sixth of the call
(``transport_bench.py``). aiohttp's failures are translated to httpx's here, where they cross into
the gateway.
"""

from __future__ import annotations

import aiohttp
import httpx


class UpstreamTransport(httpx.AsyncBaseTransport):
    """Sends ``httpx.Request``s with one ``aiohttp.ClientSession``; answers complete responses.

    ``max_connections`` bounds the pool; idle connections are kept ``keepalive_s``. Redirects are
    not followed (an upstream that redirects answered unexpectedly) and bodies are handed over as
    sent: httpx decodes any ``Content-Encoding`` as it would its own.
    """

    def __init__(self, *, max_connections: int, keepalive_s: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_s,
            ttl_dns_cache=60,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            # The gateway bounds every attempt itself (one deadline per call, retries included).
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # aiohttp quietly sends an idempotent request again when a kept-alive connection drops; the
        # gateway's own retries (counted, backed off, within the deadline) decide that instead.
        # There is no public switch: aiohttp's own test client sets this attribute the same way.
        session._retry_connection = False
        return session

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use: a session belongs to the event loop that runs it."""
        if self._session is None:
            self._session = self._new_session()
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        try:
            async with self.session.request(
                request.method,
                str(request.url),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=content or None,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                encoded = "Content-Encoding" in response.headers
        except aiohttp.ClientError as exc:
            raise _translated(exc, request) from exc
        answer = httpx.Response(response.status, headers=response.raw_headers, stream=httpx.ByteStream(body))
        if not encoded:
            # Read already: httpx's own reading (its byte iterators and identity decoder) would
            # only copy it, for a sixth of the call's cost. Were httpx to keep read bodies under
            # another name, aread() would read the stream above: slower, never wrong.
            answer._content = body
        return answer

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _translated(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for what happened: refused, dropped mid-answer, or unreadable."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    return httpx.RemoteProtocolError(message, request=request)  # dropped: disconnected, reset
