"""The HTTP transport under every upstream call: aiohttp's connection pool behind httpx's API.

httpx's own pool (httpcore) scans every connection for every queued request and parses HTTP in
pure Python; aiohttp's pool and C parser cost about a fifth of the CPU per call
(bench/README.md). ``httpx-aiohttp`` keeps the httpx request/response types and the transport
seam, so tests still plug in ``httpx.MockTransport``. Its failures are translated to httpx's here.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class UpstreamTransport(AiohttpTransport):
    """``AiohttpTransport`` with a pool sized for the gateway, and precise failure translation."""

    def __init__(self, *, max_connections: int, keepalive_s: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        super().__init__(trust_env=False, client=self._session)

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_s,
            ttl_dns_cache=60,
        )
        session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)
        # aiohttp quietly sends an idempotent request again when a kept-alive connection drops; the
        # gateway's own retries (counted, backed off, within the deadline) decide that instead.
        # There is no public switch: aiohttp's own test client sets this attribute the same way.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            cause = exc.__cause__
            # httpx-aiohttp reads every dropped connection as a connect timeout; say what it was.
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(cause), request=request) from cause
            if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
                raise httpx.RemoteProtocolError(
                    str(cause) or type(cause).__name__, request=request
                ) from cause
            raise

    async def aclose(self) -> None:
        session = self.client
        if isinstance(session, aiohttp.ClientSession):
            await session.close()
