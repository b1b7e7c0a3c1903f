"""What the request path reports, for operators: the interface, and a do-nothing twin.

The request path reports through a ``Metrics`` object passed in, never through a global, so tests
and benchmarks can run without a registry. ``gateway.telemetry.prometheus.PrometheusMetrics`` counts for
``/metrics``; ``gateway.telemetry.traced.TracedMetrics`` adds OpenTelemetry spans to whatever it wraps. Label
values are bounded: a source name, an outcome class, a cache result; never a credential, an id, a
date or query text.

Every method of the twin does nothing, and the two hooks that shape the request path
(``upstream_call`` and ``upstream_transport``) hand back what they were given: with tracing off,
an upstream call pays for no span and the transport is the one the gateway made.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import httpx

    from gateway.upstream.calls import UpstreamRequest

T = TypeVar("T")


class Metrics:
    """Reports nothing."""

    def cache_lookup(self, source: str, result: str) -> None:
        """``result``: hit, miss, stale or coalesced; ``source`` RESPONSE for the response cache."""

    def upstream_request(self, source: str, outcome: str, seconds: float) -> None:
        """One request sent upstream; ``outcome``: 2xx..5xx, timeout or connect_error."""

    def retry(self, source: str) -> None:
        """A request about to be sent again."""

    def circuit(self, source: str, is_open: bool) -> None:
        """The breaker's state after a call."""

    def operation(self, outcome: str, seconds: float) -> None:
        """One GraphQL operation; ``outcome``: ok, partial or error."""

    def budget_refusal(self, count: int = 1) -> None:
        """Fields refused for passing their operation's upstream call budget."""

    def upstream_call(self, source: str, request: UpstreamRequest, fetching: Awaitable[T]) -> Awaitable[T]:
        """``fetching`` (one upstream call of an operation: cache, single-flight, sends) as it will
        be awaited; the traced twin runs it inside a span of its own."""
        return fetching

    def upstream_transport(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """The transport upstream requests go through; the traced twin sends ``traceparent``."""
        return transport


NO_METRICS = Metrics()
