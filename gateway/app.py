"""The Starlette application: ``create_app(settings)`` builds it; its lifespan owns the clients.

Routes: ``/graphql`` (POST, GET queries, GraphiQL for browsers), ``/healthz``, ``/readyz``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.auth import CallerCredentials, CredentialRouter
from gateway.cache import GuardedCache, create_cache
from gateway.context import GatewayContext
from gateway.graphiql import STATIC_PREFIX, graphiql_html
from gateway.resolvers.figshare import FigshareSource
from gateway.resolvers.zooniverse import ErasPlanner, ZooniverseSource
from gateway.schema import create_schema
from gateway.settings import Settings
from gateway.upstream.base import CallLog, CallRecord, TtlPolicy
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.eras import ErasClient
from gateway.upstream.figshare import FigshareClient

TRACE_HEADER = "x-stats-trace"
GRAPHIQL_PAGE = graphiql_html()


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Services:
    """The long-lived parts, made at start-up and shared by every request."""

    settings: Settings
    http: httpx.AsyncClient
    cache: GuardedCache
    eras: ErasClient
    figshare: FigshareClient
    router: CredentialRouter

    @classmethod
    def start(
        cls,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], float],
    ) -> Services:
        http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.upstream_timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )
        cache = GuardedCache(
            create_cache(settings.cache_url, max_entries=settings.cache_max_entries, clock=clock)
        )
        policy = TtlPolicy(
            past_s=settings.cache_ttl_past_s,
            recent_s=settings.cache_ttl_recent_s,
            private_s=settings.cache_ttl_private_s,
            max_stale_s=settings.cache_max_stale_s,
        )

        def upstream(kind: type[ErasClient] | type[FigshareClient], url: str) -> Any:
            return kind(
                base_url=url,
                client=http,
                cache=cache,
                policy=policy,
                timeout_s=settings.upstream_timeout_s,
                breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s),
                lock_wait_s=settings.cache_lock_wait_s,
            )

        return cls(
            settings=settings,
            http=http,
            cache=cache,
            eras=upstream(ErasClient, settings.eras_url),
            figshare=upstream(FigshareClient, settings.figshare_url),
            router=CredentialRouter(settings.cache_secret),
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.cache.inner.close()


def cache_control(records: list[CallRecord], had_errors: bool) -> str:
    """Public answers may be kept as long as the shortest-lived upstream answer they used.

    A stale answer has no lifetime left, so it goes out as ``max-age=0``.
    """
    if had_errors or not records:
        return "no-store"
    if any(r.credentialed for r in records):
        return "private, no-store"
    return f"public, max-age={int(max(0.0, min(r.ttl_left_s for r in records)))}"


class GraphQLView(GraphQL[GatewayContext, None]):
    """Strawberry's ASGI view with the gateway's context, cache headers and call trace."""

    def __init__(self, app: GatewayApp) -> None:
        settings = app.settings
        schema = create_schema(max_depth=settings.max_depth, max_aliases=settings.max_aliases)
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.gateway = app

    @property
    def graphql_ide_html(self) -> str:
        # Our own page: its scripts come from this server, so GraphiQL works with no network.
        return GRAPHIQL_PAGE

    async def get_context(self, request: Any, response: Any) -> GatewayContext:
        services = self.gateway.services
        settings = services.settings
        today = self.gateway.today()
        calls = CallLog()
        credentials = CallerCredentials.from_headers(request.headers, settings.figshare_auth_header)
        context = GatewayContext(
            zooniverse=ZooniverseSource(
                ErasPlanner(services.eras, calls, today), services.router, credentials, settings.max_ids
            ),
            figshare=FigshareSource(
                services.figshare,
                services.router,
                credentials,
                calls,
                today,
                credential_header=settings.figshare_auth_header,
            ),
            calls=calls,
            today=today,
            request=request,
            response=response,
            trace=request.headers.get(TRACE_HEADER, "").strip() in {"1", "true"},
        )
        request.state.gateway_context = context
        return context

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        context: GatewayContext | None = getattr(request.state, "gateway_context", None)
        if context is None:
            return data
        stale = [r for r in context.calls.records if r.stale]
        if context.response is not None:
            headers = context.response.headers
            headers["Cache-Control"] = cache_control(context.calls.records, bool(result.errors))
            headers["Vary"] = f"Authorization, {self.gateway.services.settings.figshare_auth_header}"
            if stale:
                headers["Warning"] = '110 stats-gateway "Response is Stale"'
        if stale:
            # Said without being asked: part of this answer is an expired copy, served because
            # its upstream failed just now.
            data["extensions"] = {
                **(data.get("extensions") or {}),
                "stale": [{"source": r.source, "ageSeconds": round(r.age_s, 3)} for r in stale],
            }
        if context.trace:
            data["extensions"] = {
                **(data.get("extensions") or {}),
                "statsTrace": [r.as_trace() for r in context.calls.records],
            }
        return data


class GatewayApp:
    """Holds what the lifespan starts, so routes made before start-up can reach it."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        today: Callable[[], date],
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.today = today
        self.clock = clock
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the gateway has not started (its lifespan did not run)")
        return self._services

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._services = Services.start(self.settings, self.transport, self.clock)
        try:
            yield
        finally:
            await self._services.close()
            self._services = None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        cache = self.services.cache
        reason = await cache.check()
        if reason is not None:
            return JSONResponse(
                {"status": "unavailable", "cache": cache.name, "reason": reason}, status_code=503
            )
        return JSONResponse({"status": "ready", "cache": cache.name})


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    today: Callable[[], date] = utc_today,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The gateway. ``transport``, ``today`` and ``clock`` are seams for tests."""
    gateway = GatewayApp(settings, transport, today, clock)
    view = GraphQLView(gateway)
    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/readyz", gateway.readyz, methods=["GET"]),
            Mount(STATIC_PREFIX, StaticFiles(packages=[("gateway", "static/graphiql")]), name="graphiql"),
        ],
        lifespan=gateway.lifespan,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", settings.figshare_auth_header, TRACE_HEADER],
                expose_headers=["Cache-Control", "Warning"],
                max_age=3600,
            )
        ],
    )
    app.state.gateway = gateway
    return app
