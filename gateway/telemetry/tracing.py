"""OpenTelemetry traces: off unless the standard ``OTEL_*`` variables ask for them.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``, or any
installed under OpenTelemetry's entry points), or when an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the exporter is then
``otlp``); ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keeps it off. Everything else
is read by the SDK itself: the endpoint, headers and timeout by the OTLP exporter, the sampler by
``TracerProvider`` (``OTEL_TRACES_SAMPLER``), the resource by ``Resource.create``
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), batching by ``BatchSpanProcessor``, the
propagators (``OTEL_PROPAGATORS``, W3C ``traceparent`` by default) by ``opentelemetry.propagate``.
OTLP goes over HTTP (``http/protobuf``), the only protocol installed.

When off, nothing here runs: no middleware, no wrapped transport, no span objects.

The spans: one per HTTP request (the ASGI instrumentation, continuing the caller's ``traceparent``;
its query string, which holds GraphQL text, is kept out), one per GraphQL operation (``view.py``),
one per upstream call (``traced.TracedMetrics.upstream_call``: source, route template, cache result,
outcome, retries), and below it one per request sent (the httpx instrumentation, which sends
``traceparent`` upstream; its URL attribute is reduced to the route template, without ids).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Tracer
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.settings import ConfigError
from gateway.upstream.figshare import FAMILIES

if TYPE_CHECKING:
    from graphql import OperationDefinitionNode

    from gateway.upstream.calls import CallLog

T = TypeVar("T")

SERVICE_NAME = "stats-gateway"
# Routes whose span is named after their path; any other path is named by its method only, so
# span names stay few whatever paths are asked for.
ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics", "/"})
# Probes and scrapes make no spans unless OTEL_PYTHON_ASGI_EXCLUDED_URLS says otherwise.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
_HIDDEN_QUERY = "stats_gateway.query_string"
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for (entry point names); empty: tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not names and (
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = "otlp"
    found = []
    for name in (n.strip() for n in names.split(",")):
        if not name or name.lower() == "none":
            continue
        if name == "otlp":
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            ).strip()
            if protocol not in _OTLP_BY_PROTOCOL:
                raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not an OTLP protocol")
            name = _OTLP_BY_PROTOCOL[protocol]
        found.append(name)
    return found


def _exporter_class(name: str) -> type[SpanExporter]:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed "
            "(installed: otlp over http/protobuf, console)"
        )
    exporter: type[SpanExporter] = next(iter(found)).load()
    return exporter


def check_env(environ: Mapping[str, str] = os.environ) -> None:
    """Raise ConfigError now if the tracing variables name what cannot be used."""
    for name in exporter_names(environ):
        _exporter_class(name)


def resource() -> Resource:
    """The SDK's resource from the environment, named ``stats-gateway`` unless it says otherwise."""
    found = Resource.create({"service.version": __version__})
    if str(found.attributes.get("service.name", "")).startswith("unknown_service"):
        found = found.merge(Resource({"service.name": SERVICE_NAME}))
    return found


@dataclass
class Tracing:
    """A tracer provider and what the gateway makes of it. ``owned``: shut down with the app."""

    provider: TracerProvider
    owned: bool = False

    def __post_init__(self) -> None:
        self.tracer: Tracer = self.provider.get_tracer("gateway", __version__)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Tracing | None:
        names = exporter_names(environ)
        if not names:
            return None
        provider = TracerProvider(resource=resource())
        for name in names:
            provider.add_span_processor(BatchSpanProcessor(_exporter_class(name)()))
        return cls(provider, owned=True)

    def shutdown(self) -> None:
        if self.owned:
            self.provider.shutdown()

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """``app`` inside the ASGI instrumentation: a server span per HTTP request."""
        configured = ("OTEL_PYTHON_ASGI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")
        excluded = None if any(os.environ.get(name) for name in configured) else EXCLUDED_URLS
        middleware = OpenTelemetryMiddleware(
            _RestoreQuery(app),
            excluded_urls=excluded,
            default_span_details=_span_details,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )
        return _HideQuery(middleware)


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    method = scope.get("method", "HTTP")
    path = scope.get("path", "")
    if path in ROUTES:
        return f"{method} {path}", {"http.route": path}
    return method, {}


class _HideQuery:
    """Keeps the query string (GraphQL text and variables, on GET) out of the span's attributes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": b"", _HIDDEN_QUERY: scope["query_string"]}
        await self.app(scope, receive, send)


class _RestoreQuery:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _HIDDEN_QUERY in scope:
            scope = {**scope, "query_string": scope[_HIDDEN_QUERY]}
            del scope[_HIDDEN_QUERY]
        await self.app(scope, receive, send)


_UNTRACED: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def operation_span(
    tracer: Tracer | None, operation: OperationDefinitionNode, calls: CallLog
) -> contextlib.AbstractContextManager[Any]:
    """A span for one GraphQL operation, current while it runs (its upstream calls' spans are its
    children): named by its type and name, never by its text. Nothing at all when ``tracer`` is None."""
    if tracer is None:
        return _UNTRACED
    return _operation_span(tracer, operation, calls)


@contextlib.contextmanager
def _operation_span(tracer: Tracer, operation: OperationDefinitionNode, calls: CallLog) -> Iterator[Span]:
    kind = operation.operation.value
    name = operation.name.value if operation.name else ""
    with tracer.start_as_current_span(
        f"{kind} {name}" if name else kind,
        attributes={"graphql.operation.type": kind, "graphql.operation.name": name},
    ) as span:
        yield span
        span.set_attribute("stats_gateway.upstream_calls", len(calls.records))
        if calls.refusals:
            span.set_attribute("stats_gateway.budget_refusals", calls.refusals)


def answered_from_cache() -> None:
    """The request's span says its answer was the response cache's (no operation span follows)."""
    trace.get_current_span().set_attribute("stats_gateway.response_cache", "hit")


def trace_id() -> str | None:
    """The current trace's id, as tracing back ends show it."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


_ID = re.compile(r"[^a-z_]")


def route_template(path: str) -> str:
    """``/classifications/users/1234`` -> ``/classifications/users/{id}``;
    ``/lboro/timeline/month/views/article/42`` -> ``/{institution}/timeline/month/views/article/{id}``.

    Route words (lower-case letters) stay; ids go; a Figshare institution prefix goes too.
    """
    parts = path.split("/")
    if len(parts) > 2 and parts[2] in FAMILIES and parts[1] not in FAMILIES:
        parts[1] = "{institution}"
    return "/".join("{id}" if _ID.search(part) and part != "{institution}" else part for part in parts)
