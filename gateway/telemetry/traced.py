"""Spans added to what another ``Metrics`` counts, when tracing is on (``telemetry.tracing``): one
per upstream call (source, route template, cache result, outcome, retries), and a traced transport
below it whose spans carry the route template instead of the URL (ids and dates stay out)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport, RequestInfo
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gateway.errors import GatewayError
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.tracing import Tracing, route_template

if TYPE_CHECKING:
    from gateway.upstream.calls import UpstreamRequest

T = TypeVar("T")


def _current() -> Span | None:
    span = trace.get_current_span()
    return span if span.is_recording() else None


class TracedMetrics(Metrics):
    """``inner``'s counting, plus spans: one per upstream call, the request path's sends below it."""

    def __init__(self, inner: Metrics, tracing: Tracing) -> None:
        self.inner = inner
        self.tracing = tracing
        self.tracer = tracing.tracer

    def cache_lookup(self, source: str, result: str) -> None:
        self.inner.cache_lookup(source, result)

    def upstream_request(self, source: str, outcome: str, seconds: float) -> None:
        self.inner.upstream_request(source, outcome, seconds)
        span = _current()
        if span is not None:
            span.set_attribute("stats_gateway.outcome", outcome)

    def retry(self, source: str) -> None:
        self.inner.retry(source)
        span = _current()
        if span is not None:
            attributes = getattr(span, "attributes", None) or {}
            span.set_attribute("stats_gateway.retries", int(attributes.get("stats_gateway.retries", 0)) + 1)

    def circuit(self, source: str, is_open: bool) -> None:
        self.inner.circuit(source, is_open)

    def operation(self, outcome: str, seconds: float) -> None:
        self.inner.operation(outcome, seconds)

    def budget_refusal(self, count: int = 1) -> None:
        self.inner.budget_refusal(count)

    def upstream_call(self, source: str, request: UpstreamRequest, fetching: Awaitable[T]) -> Awaitable[T]:
        return self._traced(source, request, fetching)

    async def _traced(self, source: str, request: UpstreamRequest, fetching: Awaitable[T]) -> T:
        template = route_template(request.path)
        attributes: dict[str, str | bool] = {
            "stats_gateway.source": source,
            "http.request.method": request.method,
            "url.template": template,
            "stats_gateway.credentialed": request.forwarding.credentialed,
        }
        with self.tracer.start_as_current_span(
            f"{source} {request.method} {template}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                answer = await fetching
            except GatewayError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                status = getattr(exc, "status", None)
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                span.set_status(Status(StatusCode.ERROR, exc.code))
                raise
            outcome = getattr(answer, "outcome", None)
            if outcome is not None:
                span.set_attribute("stats_gateway.cache", outcome)
            return answer

    def upstream_transport(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        if isinstance(transport, AsyncOpenTelemetryTransport):
            return transport  # already traced
        return AsyncOpenTelemetryTransport(
            transport, tracer_provider=self.tracing.provider, request_hook=_templated_url
        )


async def _templated_url(span: Span, request: RequestInfo) -> None:
    """The send's URL without its ids, dates or query: upstream URLs are for DEBUG logs only."""
    if not span.is_recording() or not isinstance(request.url, httpx.URL):
        return
    url = request.url
    template = route_template(url.path)
    set_already = getattr(span, "attributes", None) or {}
    for name in ("url.full", "http.url"):  # whichever the HTTP semantic conventions in force set
        if name in set_already:
            span.set_attribute(name, f"{url.scheme}://{url.netloc.decode()}{template}")
    span.set_attribute("url.template", template)
