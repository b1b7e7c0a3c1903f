"""Upstreams and data sources without a gateway around them: for unit tests through a transport.

``make_upstream`` builds one upstream's process-wide part on an ``httpx.MockTransport`` (or any
transport), and ``data_source`` its per-operation side, as ``context.py`` does for each operation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from gateway.auth import NO_CREDENTIALS, Auth, CallerCredentials
from gateway.cache import Cache, GuardedCache
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.calls import CallLog, TtlPolicy
from gateway.upstream.client import Upstream
from gateway.upstream.datasource import DataSource
from gateway.upstream.eras import ErasAPI
from gateway.upstream.figshare import FigshareAPI
from gateway.upstream.retry import Retrying

SECRET = "test-secret"
APIS: dict[str, type[DataSource]] = {"ERAS": ErasAPI, "FIGSHARE": FigshareAPI}


def make_upstream(
    source: str,
    handler: Callable[[httpx.Request], Any] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "http://upstream.invalid",
    cache: Cache | None = None,
    policy: TtlPolicy | None = None,
    timeout_s: float = 30,
    breaker: CircuitBreaker | None = None,
    retries: int = 0,
    lock_wait_s: float = 30,
) -> Upstream:
    if transport is None:
        transport = httpx.MockTransport(handler or (lambda request: httpx.Response(200, json={})))
    return Upstream(
        source,
        base_url=base_url,
        transport=transport,
        cache=GuardedCache(cache or Cache()),
        policy=policy or TtlPolicy(),
        timeout_s=timeout_s,
        breaker=breaker or CircuitBreaker(0, 0),
        retrying=Retrying(retries, 0.001),
        lock_wait_s=lock_wait_s,
    )


def data_source(
    upstream: Upstream,
    calls: CallLog | None = None,
    caller: CallerCredentials = NO_CREDENTIALS,
    today: date = date(2026, 11, 20),
) -> Any:
    """The upstream's data source for one operation (``ErasAPI`` or ``FigshareAPI``)."""
    return APIS[upstream.source](upstream, Auth(SECRET), caller, calls or CallLog(), today)


async def close(*upstreams: Upstream) -> None:
    for upstream in upstreams:
        await upstream.transport.aclose()
        await upstream.cache.inner.close()
