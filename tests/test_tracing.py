"""OpenTelemetry traces: off without the OTEL_* variables; on, one span per HTTP request, per
GraphQL operation and per upstream call, the caller's ``traceparent`` continued and sent upstream.

Gateways are served on loopback against the emulators. Spans go to the SDK's in-memory exporter,
and once, through the real OTLP/HTTP exporter, to a small OTLP receiver served by the test.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.app import create_app
from gateway.emulators import eras_data
from gateway.emulators.server import LoopbackServer
from gateway.http.view import Entry
from gateway.settings import ConfigError, Settings
from gateway.telemetry.metrics import NO_METRICS
from gateway.telemetry.traced import TracedMetrics
from gateway.telemetry.tracing import Tracing, check_env, exporter_names, route_template
from tests.conftest import Gateway, GatewayFactory, codes, data_of, fixed_today
from tests.conftest import Upstream as Emulator

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
BEARER = f"Bearer {eras_data.VOLUNTEER_TOKEN}"
MINE = """
query Mine($user: ID!) {
  zooniverse { user(id: $user) { classifications { total } } }
  figshare { article(id: "766364") { views { total } } }
}
"""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(make_gateway: GatewayFactory, exporter: InMemorySpanExporter) -> GatewayFactory:
    """Start gateways whose spans go to ``exporter``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return functools.partial(make_gateway, tracer_provider=provider)


def finished(exporter: InMemorySpanExporter, requests: int = 1) -> tuple[ReadableSpan, ...]:
    """The spans, once the server spans of ``requests`` requests have ended: a server span ends
    just after its response is sent, so the client may read the response first (polled, bounded)."""
    deadline = time.monotonic() + 10
    while True:
        spans = exporter.get_finished_spans()
        if sum(s.kind is SpanKind.SERVER for s in spans) >= requests or time.monotonic() > deadline:
            return spans
        time.sleep(0.005)  # another thread ends the span: nothing to await


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def status_of(send: ReadableSpan) -> Any:
    """The HTTP status of a request sent, under either of the HTTP semantic conventions."""
    attributes = send.attributes or {}
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


def every_attribute(spans: tuple[ReadableSpan, ...]) -> str:
    return " ".join(f"{k}={v}" for s in spans for k, v in (s.attributes or {}).items())


# ---------------------------------------------------------------- configuration


def test_tracing_is_off_without_the_otel_variables(eras: Emulator, figshare: Emulator) -> None:
    assert exporter_names({}) == []
    assert Tracing.from_env({}) is None
    settings = Settings(eras_url=eras.url, figshare_url=figshare.url, cache_url="none://")
    assert isinstance(create_app(settings), Entry)  # no middleware, no spans


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_the_otel_variables_choose_the_exporters(environ: dict[str, str], names: list[str]) -> None:
    assert exporter_names(environ) == names
    check_env(environ)


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "no span exporter 'jaeger' is installed"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "'otlp_proto_grpc'"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "smoke"}, "not an OTLP protocol"),
    ],
)
def test_unusable_otel_variables_are_a_configuration_error(environ: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        check_env(environ)


def test_route_templates_hold_no_ids() -> None:
    assert route_template("/classifications/users/1325316") == "/classifications/users/{id}"
    assert route_template("/classifications/user_groups/42") == "/classifications/user_groups/{id}"
    assert route_template("/classifications") == "/classifications"
    assert route_template("/total/views/article/766364") == "/total/views/article/{id}"
    assert (
        route_template("/lboro/timeline/month/views/article/766364")
        == "/{institution}/timeline/month/views/article/{id}"
    )
    assert route_template("/lboro/top/views/article") == "/{institution}/top/views/article"
    assert route_template("/count/articles") == "/count/articles"


# ---------------------------------------------------------------- spans


def test_an_operation_is_traced_from_the_callers_traceparent_to_the_upstreams(
    traced: Any, exporter: InMemorySpanExporter, eras: Emulator, figshare: Emulator
) -> None:
    gateway = traced()
    result = gateway.query(
        MINE, {"user": str(eras_data.VOLUNTEER_ID)}, authorization=BEARER, traceparent=TRACEPARENT
    )
    data_of(result)
    spans = finished(exporter)

    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert f"{server.context.trace_id:032x}" == TRACE_ID  # the caller's trace, continued
    assert parent_of(server) == int(CALLER_SPAN, 16)
    assert {f"{s.context.trace_id:032x}" for s in spans} == {TRACE_ID}

    (operation,) = by_name(spans, "query Mine")
    assert parent_of(operation) == server.context.span_id
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["graphql.operation.name"] == "Mine"
    assert operation.attributes["stats_gateway.upstream_calls"] == 2

    (eras_call,) = by_name(spans, "ERAS GET /classifications/users/{id}")
    (figshare_call,) = by_name(spans, "FIGSHARE GET /total/views/article/{id}")
    for call, source in ((eras_call, "ERAS"), (figshare_call, "FIGSHARE")):
        assert parent_of(call) == operation.context.span_id
        assert call.attributes is not None
        assert call.attributes["stats_gateway.source"] == source
        assert call.attributes["stats_gateway.cache"] == "miss"
        assert call.attributes["stats_gateway.outcome"] == "2xx"
        assert "stats_gateway.retries" not in call.attributes
    assert eras_call.attributes is not None
    assert eras_call.attributes["stats_gateway.credentialed"] is True

    # Below each call, the request sent, with the traceparent the upstream received.
    (sent,) = [s for s in spans if s.kind is SpanKind.CLIENT and parent_of(s) == eras_call.context.span_id]
    assert sent.attributes is not None
    assert sent.attributes["url.template"] == "/classifications/users/{id}"
    (received,) = eras.log.requests
    assert received.header("traceparent") == f"00-{TRACE_ID}-{sent.context.span_id:016x}-01"
    (received,) = figshare.log.requests
    assert str(received.header("traceparent")).startswith(f"00-{TRACE_ID}-")

    # Neither the query's text, nor the volunteer's id, nor the credential.
    attributes = every_attribute(spans)
    for secret in ("zooniverse {", str(eras_data.VOLUNTEER_ID), eras_data.VOLUNTEER_TOKEN, "Bearer"):
        assert secret not in attributes


def test_retries_and_failures_show_on_the_upstream_call_spans(
    traced: Any, exporter: InMemorySpanExporter, figshare: Emulator
) -> None:
    gateway = traced(upstream_retry_backoff_s=0.01)
    figshare.faults.inject("/766364$", status=503, body=b"{}", times=1)
    figshare.faults.inject("/766365$", status=500, body=b"{}")
    result = gateway.query(
        '{ figshare { a: article(id: "766364") { views { total } } b: article(id: "766365") { views { total } } } }'
    )
    assert codes(result) == ["UPSTREAM_UNAVAILABLE"]
    spans = finished(exporter)

    calls = by_name(spans, "FIGSHARE GET /total/views/article/{id}")
    assert len(calls) == 2
    retried = next(c for c in calls if c.status.status_code is not StatusCode.ERROR)
    failed = next(c for c in calls if c.status.status_code is StatusCode.ERROR)
    assert retried.attributes is not None
    assert failed.attributes is not None
    assert retried.attributes["stats_gateway.retries"] == 1
    assert retried.attributes["stats_gateway.cache"] == "miss"
    sends = [s for s in spans if s.kind is SpanKind.CLIENT and parent_of(s) == retried.context.span_id]
    assert sorted(status_of(s) for s in sends) == [200, 503]
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.attributes["error.type"] == "UpstreamUnavailable"
    assert failed.status.description == "UPSTREAM_UNAVAILABLE"
    assert len(figshare.log) == 3


def test_an_answer_from_the_response_cache_is_one_server_span(
    traced: Any, exporter: InMemorySpanExporter
) -> None:
    gateway = traced(cache_url="memory://")
    query = '{ zooniverse { project(id: "1234") { comments { total } } } }'
    data_of(gateway.query(query))
    finished(exporter)
    exporter.clear()
    data_of(gateway.query(query))

    (server,) = finished(exporter)
    assert server.attributes is not None
    assert server.attributes["stats_gateway.response_cache"] == "hit"


def test_a_get_query_keeps_its_text_out_of_the_server_span(
    traced: Any, exporter: InMemorySpanExporter
) -> None:
    gateway = traced()
    response = gateway.http.get("/graphql", params={"query": '{ zooniverse { project(id: "1234") { id } } }'})
    assert response.status_code == 200
    assert response.json() == {"data": {"zooniverse": {"project": {"id": "1234"}}}}

    spans = finished(exporter)
    assert [s.name for s in spans if s.kind is SpanKind.SERVER] == ["GET /graphql"]
    assert "project" not in every_attribute(spans)
    assert "query" not in every_attribute(spans).replace("graphql.operation.type=query", "")


def test_probes_and_scrapes_make_no_spans(traced: Any, exporter: InMemorySpanExporter) -> None:
    gateway = traced()
    for path in ("/healthz", "/metrics"):
        assert gateway.http.get(path).status_code == 200
    assert gateway.http.get("/nowhere").status_code == 404
    spans = finished(exporter)
    assert [s.name for s in spans] == ["GET"]  # the unknown path: named by its method alone


# ---------------------------------------------------------------- the real OTLP/HTTP exporter


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on loopback: keeps every export request it is sent."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        self.server.exports.append(export)
        self.server.paths.append(self.path)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_spans_reach_an_otlp_receiver_over_http(
    receiver: Receiver, eras: Emulator, figshare: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "stats-gateway-under-test")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    settings = Settings(eras_url=eras.url, figshare_url=figshare.url, cache_url="none://")
    gateway = Gateway(LoopbackServer(create_app(settings, today=fixed_today)).start())
    try:
        data_of(gateway.query("query Comments { zooniverse { comments { total } } }"))
    finally:
        gateway.close()  # the lifespan's end sends the spans still held

    assert receiver.exports
    assert set(receiver.paths) == {"/v1/traces"}
    names = set()
    for export in receiver.exports:
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert resource["service.name"] == "stats-gateway-under-test"
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert {"POST /graphql", "query Comments"} <= names


def test_the_default_service_name_is_the_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    tracing = Tracing.from_env({"OTEL_TRACES_EXPORTER": "console"})
    assert tracing is not None
    try:
        assert tracing.provider.resource.attributes["service.name"] == "stats-gateway"
    finally:
        tracing.shutdown()


def test_an_unusable_exporter_stops_serve_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from gateway.cli import main

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    assert main(["serve", "--port", "1"]) == 2
    assert "OTEL_TRACES_EXPORTER: no span exporter 'zipkin' is installed" in capsys.readouterr().err


def test_httpx_transport_is_wrapped_once() -> None:
    metrics = TracedMetrics(NO_METRICS, Tracing(TracerProvider()))
    wrapped = metrics.upstream_transport(httpx.MockTransport(lambda request: httpx.Response(200)))
    assert metrics.upstream_transport(wrapped) is wrapped
    assert NO_METRICS.upstream_transport(wrapped) is wrapped
