"""``GET /metrics``: the Prometheus families, counted exactly as the emulators saw the requests.

Each test scrapes a gateway served on loopback and compares the counters with the emulators' own
request logs. The last test serves ``stats-gateway serve --workers 2`` and proves that whichever
worker answers a scrape, it reports both workers' operations.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.telemetry.metrics import NO_METRICS
from gateway.telemetry.prometheus import PrometheusMetrics
from tests.conftest import Gateway, GatewayFactory, Upstream, codes, data_of
from tests.test_serving import BIN, Served, serve  # noqa: F401  (the fixture)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

PROJECT = '{ zooniverse { project(id: "1234") { comments { total } } } }'
# The same upstream request under another document: the response cache misses, the upstream's hits.
PROJECT_AGAIN = '{ zooniverse { again: project(id: "1234") { comments { total } } } }'
ARTICLE = '{ figshare { article(id: "%s") { views { total } } } }'
FAST = {"upstream_retry_backoff_s": 0.01}

# Label -> the values it may take: never an id, a date, a credential or query text.
LABELS: dict[str, set[str]] = {
    "source": {"ERAS", "FIGSHARE", "RESPONSE"},
    "outcome": {"ok", "partial", "error", "2xx", "3xx", "4xx", "5xx", "timeout", "connect_error"},
    "result": {"hit", "miss", "stale", "coalesced"},
}


def scrape(url: str, client: httpx.Client | None = None) -> tuple[Samples, httpx.Response]:
    if client is None:
        response = httpx.get(f"{url}/metrics", timeout=30, trust_env=False)
    else:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, response


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"stats_gateway_{name}", frozenset(labels.items())), 0.0)


def gateway_samples(gateway: Gateway) -> Samples:
    samples, _ = scrape(gateway.url, gateway.http)
    return samples


def assert_bounded_labels(samples: Samples) -> None:
    for name, labels in samples:
        if not name.startswith("stats_gateway_"):
            continue
        for label, found in labels:
            if label == "le":
                continue
            assert found in LABELS[label], (name, label, found)


def test_the_counters_match_what_the_upstreams_received(
    make_gateway: GatewayFactory, eras: Upstream, figshare: Upstream
) -> None:
    gateway = make_gateway(cache_url="memory://", **FAST)
    data_of(gateway.query(PROJECT))  # ERAS miss, response cache miss
    data_of(gateway.query(PROJECT))  # the response cache's hit: nothing else
    data_of(gateway.query(PROJECT_AGAIN))  # ERAS hit
    figshare.faults.inject("/766364$", status=503, body=b"{}", times=1)
    data_of(gateway.query(ARTICLE % "766364"))  # a 503, retried: FIGSHARE miss
    figshare.faults.inject("/766365$", status=500, body=b"{}")
    failed = gateway.query(ARTICLE % "766365")  # a 500: not retried, the field fails
    assert codes(failed) == ["UPSTREAM_UNAVAILABLE"]

    samples = gateway_samples(gateway)

    # Every request the upstreams received, by status class: the emulators' logs, exactly.
    assert len(eras.log) == 1
    assert value(samples, "upstream_requests_total", source="ERAS", outcome="2xx") == 1
    assert len(figshare.log) == 3
    assert value(samples, "upstream_requests_total", source="FIGSHARE", outcome="5xx") == 2
    assert value(samples, "upstream_requests_total", source="FIGSHARE", outcome="2xx") == 1
    assert value(samples, "upstream_request_duration_seconds_count", source="ERAS") == 1
    assert value(samples, "upstream_request_duration_seconds_count", source="FIGSHARE") == 3
    assert value(samples, "upstream_retries_total", source="FIGSHARE") == 1
    assert value(samples, "upstream_retries_total", source="ERAS") == 0
    # Cache lookups of answered calls, and of the response cache.
    assert value(samples, "cache_lookups_total", source="ERAS", result="miss") == 1
    assert value(samples, "cache_lookups_total", source="ERAS", result="hit") == 1
    assert value(samples, "cache_lookups_total", source="FIGSHARE", result="miss") == 1
    assert value(samples, "cache_lookups_total", source="RESPONSE", result="hit") == 1
    assert value(samples, "cache_lookups_total", source="RESPONSE", result="miss") == 4
    # Operations by outcome, and their durations.
    failed_outcome = "error" if failed["data"] is None else "partial"
    assert value(samples, "operations_total", outcome="ok") == 4
    assert value(samples, "operations_total", outcome=failed_outcome) == 1
    assert value(samples, "operation_duration_seconds_count") == 5
    assert value(samples, "circuit_open", source="FIGSHARE") == 0
    assert value(samples, "circuit_open", source="ERAS") == 0
    assert_bounded_labels(samples)


def test_an_open_circuit_and_budget_refusals_are_reported(
    make_gateway: GatewayFactory, figshare: Upstream
) -> None:
    gateway = make_gateway(breaker_failures=1, max_upstream_calls=1, upstream_retries=0)
    figshare.faults.inject("/766364$", status=503, body=b"{}")
    failed = gateway.query(ARTICLE % "766364")
    refused = gateway.query(
        '{ zooniverse { a: project(id: "1234") { comments { total } } b: project(id: "335") { comments { total } } } }'
    )

    samples = gateway_samples(gateway)
    assert codes(failed) == ["UPSTREAM_UNAVAILABLE"]
    assert len(figshare.log) == 1
    assert value(samples, "circuit_open", source="FIGSHARE") == 1
    assert value(samples, "circuit_open", source="ERAS") == 0
    assert codes(refused) == ["UPSTREAM_BUDGET_EXCEEDED"]
    assert value(samples, "budget_refusals_total") == 1
    assert refused["data"]["zooniverse"]["a"]["comments"]["total"] > 0
    assert value(samples, "operations_total", outcome="partial") == 2
    assert_bounded_labels(samples)


def test_nothing_is_counted_and_no_metrics_route_without_metrics(eras: Upstream, figshare: Upstream) -> None:
    from gateway.app import create_app
    from gateway.emulators.server import LoopbackServer
    from gateway.settings import Settings

    settings = Settings(eras_url=eras.url, figshare_url=figshare.url, cache_url="none://")
    with LoopbackServer(create_app(settings, metrics=NO_METRICS)) as server:
        response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 404


def test_metric_children_are_made_once_per_label_set() -> None:
    metrics = PrometheusMetrics()
    for _ in range(3):
        metrics.cache_lookup("ERAS", "hit")
        metrics.upstream_request("ERAS", "2xx", 0.01)
    text = metrics.render().decode()
    assert 'stats_gateway_cache_lookups_total{result="hit",source="ERAS"} 3.0' in text
    assert 'stats_gateway_upstream_request_duration_seconds_count{source="ERAS"} 3.0' in text


# ---------------------------------------------------------------- several workers, one view


def worker_of(response: httpx.Response) -> str:
    """The worker that answered: generated request ids start with their process's own prefix."""
    rid = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}[0-9a-f]{8,}", rid), rid
    return rid[:16]


def test_two_workers_report_one_coherent_view(serve: Any, tmp_path: Path) -> None:  # noqa: F811
    served: Served = serve(
        str(BIN / "stats-gateway"),
        "serve",
        "--port",
        "{port}",
        "--workers",
        "2",
        extra_env={"TMPDIR": str(tmp_path)},
    ).ready()
    (metrics_dir,) = tmp_path.glob("stats-gateway-metrics-*")  # made by serve, for its workers

    # Operations on fresh connections, until both workers have answered some (bounded).
    answered: dict[str, int] = {}
    sent = 0
    while len(answered) < 2 and sent < 400:
        response = httpx.post(
            f"{served.url}/graphql", json={"query": "{ __typename }"}, timeout=30, trust_env=False
        )
        assert response.json() == {"data": {"__typename": "Query"}}
        answered[worker_of(response)] = answered.get(worker_of(response), 0) + 1
        sent += 1
    assert len(answered) == 2, f"one worker answered all {sent} requests"

    # Every scrape, whichever worker answers it, counts every operation of both.
    scraped_by: set[str] = set()
    scrapes = 0
    while len(scraped_by) < 2 and scrapes < 400:
        samples, response = scrape(served.url)
        scraped_by.add(worker_of(response))
        assert value(samples, "operations_total", outcome="ok") == sent
        assert value(samples, "operation_duration_seconds_count") == sent
        scrapes += 1
    assert scraped_by == set(answered)

    assert served.stop() == 0
    assert not metrics_dir.exists()  # removed when serve ends
    assert sorted(os.listdir(tmp_path)) == []
