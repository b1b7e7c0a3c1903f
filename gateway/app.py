"""The Starlette application: ``create_app(settings)`` builds it; its lifespan starts the services.

Routes: ``/graphql`` (POST, GET queries, GraphiQL for browsers), ``/healthz``, ``/readyz``, ``/``
(to the explorer) and the explorer's scripts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.examples import EXAMPLES
from gateway.graphiql import STATIC_PREFIX, graphiql_html
from gateway.metrics import NO_METRICS, Metrics
from gateway.readiness import readiness
from gateway.services import Services
from gateway.settings import Settings
from gateway.view import TRACE_HEADER, GraphQLView


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
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.metrics = metrics
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

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        services = self.services()
        status, body = await readiness(services.cache, services.upstreams)
        return JSONResponse(body, status_code=status)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/graphql", status_code=307)


class Entry:
    """The app's front door: GraphQL requests without an ``Origin`` go straight to the view.

    Starlette's router and middleware (CORS, error pages) cost a tenth of a cached answer; only
    browsers need CORS, and they always send ``Origin``.
    """

    def __init__(self, app: Starlette, view: GraphQLView) -> None:
        self.app = app
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and not any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.view(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    today: Callable[[], date] = utc_today,
    clock: Callable[[], float] = time.time,
    explorer_headers: Mapping[str, str] | None = None,
    metrics: Metrics = NO_METRICS,
) -> ASGIApp:
    """The gateway. ``transport``, ``today`` and ``clock`` are seams for tests; ``explorer_headers``
    prefill GraphiQL's headers (the demo's credentials)."""
    gateway = Gateway(settings, transport, clock, metrics)
    page = None
    if settings.graphiql:
        page = graphiql_html(
            examples=EXAMPLES, headers=explorer_headers, persist_headers=settings.graphiql_persist_headers
        )
    credential_headers = ["Authorization", settings.figshare_auth_header]
    view = GraphQLView(gateway.services, today, graphiql_page=page, vary=", ".join(credential_headers))
    app = Starlette(
        routes=[
            Route("/graphql", view),  # the view answers every method itself, in JSON
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/readyz", gateway.readyz, methods=["GET"]),
            Route("/", gateway.home, methods=["GET"]),
            Mount(STATIC_PREFIX, StaticFiles(packages=[("gateway", "static/graphiql")]), name="graphiql"),
        ],
        lifespan=gateway.lifespan,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST"],
                allow_headers=[*credential_headers, "Content-Type", TRACE_HEADER],
                expose_headers=["Cache-Control", "Warning", "ETag"],
                max_age=3600,
            )
        ],
    )
    return Entry(app, view)
