"""What the request path reports (``metrics.Metrics``), counted for ``/metrics``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``stats-gateway serve --workers N`` sets it for its workers;
under another server the operator sets it), every worker writes its samples there and ``/metrics``
answers with the sum of all of them, so one scrape sees the whole server whichever worker answers
it. prometheus-client reads the variable when it is first imported: it must be set before the
workers start. Label values are bounded: a source name (``ERAS``, ``FIGSHARE``, or ``RESPONSE`` for
the response cache), an outcome class, a cache result. Children are made once per label set and
kept, so counting costs a dictionary lookup and an add.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from gateway.telemetry.metrics import Metrics

PREFIX = "stats_gateway"
# The classic text format, which every Prometheus version reads (the names need no escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Upstream latencies: tens of milliseconds to the deadline; operations: a cached answer's
# fraction of a millisecond to a slow fan-out's seconds.
UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OPERATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def multiprocess_dir() -> str | None:
    """Where the workers' samples are written, if they are written to files at all."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Family:
    """One metric family's children, made on first use of each label set."""

    __slots__ = ("children", "family")

    def __init__(self, family: Any) -> None:
        self.family = family
        self.children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self.children.get(labels)
        if child is None:
            child = self.children[labels] = self.family.labels(*labels)
        return child


class PrometheusMetrics(Metrics):
    """The gateway's metric families, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._upstream = _Family(
            Counter(
                f"{PREFIX}_upstream_requests_total",
                "Requests sent upstream (retries included), by outcome: 2xx..5xx, timeout, connect_error.",
                ["source", "outcome"],
                registry=r,
            )
        )
        self._upstream_seconds = _Family(
            Histogram(
                f"{PREFIX}_upstream_request_duration_seconds",
                "How long each request sent upstream took.",
                ["source"],
                buckets=UPSTREAM_BUCKETS,
                registry=r,
            )
        )
        self._lookups = _Family(
            Counter(
                f"{PREFIX}_cache_lookups_total",
                "Cache lookups by result: hit, miss, stale (an expired answer served), coalesced "
                "(answered by a fetch another caller made). Source RESPONSE: the response cache.",
                ["source", "result"],
                registry=r,
            )
        )
        self._operations = _Family(
            Counter(
                f"{PREFIX}_operations_total",
                "GraphQL operations by outcome: ok, partial, error.",
                ["outcome"],
                registry=r,
            )
        )
        self._operation_seconds = Histogram(
            f"{PREFIX}_operation_duration_seconds",
            "How long each GraphQL operation took, from its request to its answer.",
            buckets=OPERATION_BUCKETS,
            registry=r,
        )
        self._circuit = _Family(
            Gauge(
                f"{PREFIX}_circuit_open",
                "1 while an upstream's circuit breaker is open.",
                ["source"],
                registry=r,
                multiprocess_mode="livemax",  # open in any live worker
            )
        )
        self._retries = _Family(
            Counter(
                f"{PREFIX}_upstream_retries_total",
                "Requests sent upstream again after a failure.",
                ["source"],
                registry=r,
            )
        )
        self._refusals = Counter(
            f"{PREFIX}_budget_refusals_total",
            "Fields refused for passing their operation's upstream call budget.",
            registry=r,
        )

    def cache_lookup(self, source: str, result: str) -> None:
        self._lookups(source, result).inc()

    def upstream_request(self, source: str, outcome: str, seconds: float) -> None:
        self._upstream(source, outcome).inc()
        self._upstream_seconds(source).observe(seconds)

    def retry(self, source: str) -> None:
        self._retries(source).inc()

    def circuit(self, source: str, is_open: bool) -> None:
        self._circuit(source).set(1 if is_open else 0)

    def operation(self, outcome: str, seconds: float) -> None:
        self._operations(outcome).inc()
        self._operation_seconds.observe(seconds)

    def budget_refusal(self, count: int = 1) -> None:
        self._refusals.inc(count)

    def render(self) -> bytes:
        """The text ``/metrics`` answers: this process's samples, or every worker's when they
        write to one multiprocess directory."""
        registry = self.registry
        directory = multiprocess_dir()
        if directory is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``."""
        return Response(self.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    def stopped(self) -> None:
        """This process is ending: its gauges leave the workers' sum (counters stay counted)."""
        directory = multiprocess_dir()
        if directory is not None:
            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
