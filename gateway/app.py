"""The Starlette application: ``create_app(settings)`` builds it; its lifespan starts the services.

Routes: ``/graphql`` (POST, GET queries, GraphiQL for browsers), ``/healthz``, ``/readyz``,
``/metrics`` (Prometheus), ``/`` (to the explorer) and the explorer's scripts. Every response
carries ``X-Request-Id``. With tracing configured (``OTEL_*``, see ``gateway.telemetry.tracing``) the app is
wrapped in the ASGI instrumentation; without, nothing of OpenTelemetry runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from gateway.examples import EXAMPLES
from gateway.http.graphiql import STATIC_PREFIX, graphiql_html
from gateway.http.readiness import readiness
from gateway.http.view import TRACE_HEADER, Entry, GraphQLView
from gateway.services import Services
from gateway.settings import Settings
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.prometheus import PrometheusMetrics
from gateway.telemetry.traced import TracedMetrics
from gateway.telemetry.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def utc_today() -> date:
    return datetime.now(UTC).date()


class Gateway:
    """Holds what the lifespan starts, so routes made before start-up can reach it."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], float],
        metrics: Metrics,
        prometheus: PrometheusMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.metrics = metrics
        self.prometheus = prometheus
        self.tracing = tracing
        self._services: Services | None = None

    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the gateway has not started (its lifespan did not run)")
        return self._services

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._services = Services.start(
            self.settings, transport=self.transport, clock=self.clock, metrics=self.metrics
        )
        try:
            yield
        finally:
            await self._services.close()
            self._services = None
            if self.tracing is not None:
                self.tracing.shutdown()  # sends the spans still held
            if self.prometheus is not None:
                self.prometheus.stopped()

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        services = self.services()
        status, body = await readiness(services.cache, services.upstreams)
        return JSONResponse(body, status_code=status)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/graphql", status_code=307)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    today: Callable[[], date] = utc_today,
    clock: Callable[[], float] = time.time,
    explorer_headers: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ASGIApp:
    """The gateway. ``transport``, ``today`` and ``clock`` are seams for tests; ``explorer_headers``
    prefill GraphiQL's headers (the demo's credentials).

    ``metrics``: Prometheus by default (``/metrics``); ``metrics.NO_METRICS`` counts nothing.
    ``tracer_provider``: spans go there; by default tracing follows the ``OTEL_*`` variables.
    """
    if metrics is None:
        metrics = PrometheusMetrics()
    prometheus = metrics if isinstance(metrics, PrometheusMetrics) else None
    tracing = Tracing.from_env() if tracer_provider is None else Tracing(tracer_provider)
    if tracing is not None:
        metrics = TracedMetrics(metrics, tracing)
    gateway = Gateway(settings, transport, clock, metrics, prometheus, tracing)
    page = None
    if settings.graphiql:
        page = graphiql_html(
            examples=EXAMPLES, headers=explorer_headers, persist_headers=settings.graphiql_persist_headers
        )
    credential_headers = ["Authorization", settings.figshare_auth_header]
    view = GraphQLView(
        gateway.services,
        today,
        graphiql_page=page,
        vary=", ".join(credential_headers),
        tracer=None if tracing is None else tracing.tracer,
    )
    routes = [
        Route("/graphql", view),  # the view answers every method itself, in JSON
        Route("/healthz", gateway.healthz, methods=["GET"]),
        Route("/readyz", gateway.readyz, methods=["GET"]),
        Route("/", gateway.home, methods=["GET"]),
        Mount(STATIC_PREFIX, StaticFiles(packages=[("gateway", "static/graphiql")]), name="graphiql"),
    ]
    if prometheus is not None:
        routes.append(Route("/metrics", prometheus.endpoint, methods=["GET"]))
    app = Starlette(
        routes=routes,
        lifespan=gateway.lifespan,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST"],
                allow_headers=[*credential_headers, "Content-Type", TRACE_HEADER, "X-Request-Id"],
                expose_headers=["Cache-Control", "Warning", "ETag", "X-Request-Id"],
                max_age=3600,
            )
        ],
    )
    entry = Entry(app, view)
    return entry if tracing is None else tracing.asgi(entry)
