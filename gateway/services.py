"""The long-lived parts, made once at start-up by the app's lifespan and shared by every request.

The transport and the cache, one ``Upstream`` per service of ``UPSTREAMS`` (breaker, pressure,
single-flight), the credential rules, the executor with its caches, the response cache and the
persisted queries. With a shared cache, the cache's board shares the upstreams' pauses and rate
limits with the other replicas; it listens for their pauses from start-up on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from gateway.auth import Auth
from gateway.cache import CacheOptions, GuardedCache, create_cache
from gateway.cache.board import RedisBoard
from gateway.context import ContextFactory
from gateway.execution import Executor
from gateway.http.persisted import PersistedQueries
from gateway.http.response_cache import ResponseCache
from gateway.resolvers.args import Limits
from gateway.schema import schema
from gateway.settings import Settings
from gateway.telemetry.metrics import NO_METRICS, Metrics
from gateway.upstream import UPSTREAMS
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.calls import TtlPolicy
from gateway.upstream.client import Upstream
from gateway.upstream.retry import Pressure, Retrying
from gateway.upstream.transport import UpstreamTransport


@dataclass
class Services:
    settings: Settings
    transport: httpx.AsyncBaseTransport
    cache: GuardedCache
    upstreams: dict[str, Upstream]
    auth: Auth
    executor: Executor
    contexts: ContextFactory
    responses: ResponseCache | None
    persisted: PersistedQueries
    metrics: Metrics
    board: RedisBoard | None = None

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics = NO_METRICS,
    ) -> Services:
        s = settings
        if transport is None:
            transport = UpstreamTransport(max_connections=s.upstream_max_in_flight * len(UPSTREAMS))
        # With tracing on, each request sent is a span, and carries traceparent upstream.
        transport = metrics.upstream_transport(transport)
        cache = GuardedCache(
            create_cache(
                s.cache_url,
                CacheOptions(
                    max_entries=s.cache_max_entries,
                    max_bytes=s.cache_max_bytes,
                    clock=clock,
                    op_timeout_s=s.cache_op_timeout_s,
                    stale_s=s.cache_max_stale_s,
                ),
            )
        )
        policy = TtlPolicy(
            past_s=s.cache_ttl_past_s,
            recent_s=s.cache_ttl_recent_s,
            private_s=s.cache_ttl_private_s,
            max_stale_s=s.cache_max_stale_s,
        )
        board = cache.inner.board()
        upstreams = {}
        for api in UPSTREAMS:
            source, prefix = api.source, api.settings_prefix
            upstreams[source] = Upstream(
                source,
                # Each upstream's settings are named after its prefix: eras_url, eras_max_rps...
                base_url=getattr(s, f"{prefix}_url"),
                transport=transport,
                cache=cache,
                policy=policy,
                timeout_s=s.upstream_timeout_s,
                breaker=CircuitBreaker(s.breaker_failures, s.breaker_reset_s),
                retrying=Retrying(
                    s.upstream_retries, s.upstream_retry_backoff_s, source=source, metrics=metrics
                ),
                pressure=Pressure(
                    source,
                    max_in_flight=s.upstream_max_in_flight,
                    max_rps=getattr(s, f"{prefix}_max_rps"),
                    board=board,
                ),
                lock_wait_s=s.cache_lock_wait_s,
                metrics=metrics,
            )
        if board is not None:
            # The first request to each upstream waits until the pauses in force are known.
            joined = board.start({source: upstream.pressure.heard for source, upstream in upstreams.items()})
            for upstream in upstreams.values():
                upstream.pressure.joining = joined
        auth = Auth(s.cache_secret, s.figshare_auth_header)
        return cls(
            settings=s,
            transport=transport,
            cache=cache,
            upstreams=upstreams,
            auth=auth,
            executor=Executor(
                schema, max_depth=s.max_depth, max_aliases=s.max_aliases, max_tokens=s.max_query_tokens
            ),
            contexts=ContextFactory(
                upstreams,
                auth,
                Limits(max_ids=s.max_ids, max_series_points=s.max_series_points, max_entities=s.max_entities),
                budget=s.max_upstream_calls,
            ),
            responses=ResponseCache(cache) if s.response_cache and cache.name != "none" else None,
            persisted=PersistedQueries(cache),
            metrics=metrics,
            board=board,
        )

    async def close(self) -> None:
        self.executor.close()
        if self.board is not None:
            await self.board.close()
        await self.transport.aclose()
        await self.cache.inner.close()
