"""Logs and request ids: one line per operation, text or JSON, and never a credential.

In-process tests read the lines of gateways served on loopback through ``logs.configure``'s
handler; the last test runs ``stats-gateway serve`` at DEBUG in JSON and reads every line it wrote.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.emulators import eras_data, figshare_data
from gateway.telemetry import logs
from tests.conftest import Gateway, GatewayFactory, Upstream, codes, data_of
from tests.demo_process import free_port
from tests.test_serving import BIN

PROJECT = 'query Project { zooniverse { project(id: "1234") { comments { total } } } }'
GENERATED = re.compile(r"[0-9a-f]{24,}")


def lines_of(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


@pytest.fixture
def capture() -> Iterator[Any]:
    """``capture(level, fmt)``: the process's log lines from then on, as ``stats-gateway serve``
    writes them; the logging configuration is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    loggers = {name: logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    saved_loggers = {n: (lg.handlers[:], lg.propagate, lg.disabled) for n, lg in loggers.items()}

    def start(level: str = "info", fmt: str = "json") -> io.StringIO:
        stream = io.StringIO()
        logs.configure(level, fmt, stream)
        return stream

    yield start
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate, disabled) in saved_loggers.items():
        loggers[name].handlers[:] = handlers
        loggers[name].propagate = propagate
        loggers[name].disabled = disabled
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


# ---------------------------------------------------------------- request ids


@pytest.mark.parametrize(
    "given", [b"abc-123", b"0af7651916cd43dd8448eb211c80319c", b"req:42/a+b=", b"x" * 128]
)
def test_a_sane_request_id_is_kept(given: bytes) -> None:
    assert logs.request_id(given) == given.decode()


@pytest.mark.parametrize(
    "given", [None, b"", b"has space", b"x" * 129, b"caf\xc3\xa9", b"a\r\nSet-Cookie: x", b'"q"']
)
def test_anything_else_gets_a_new_request_id(given: bytes | None) -> None:
    made = logs.request_id(given)
    assert GENERATED.fullmatch(made)
    assert made != logs.request_id(given)


def test_every_response_carries_its_request_id(gateway: Gateway) -> None:
    given = {"x-request-id": "caller-chosen-42"}
    for response in (
        gateway.http.post("/graphql", json={"query": "{ __typename }"}, headers=given),
        gateway.http.get("/healthz", headers=given),
        gateway.http.get("/metrics", headers=given),
        gateway.http.get("/nowhere", headers=given),
        gateway.http.put("/graphql", headers=given),
        gateway.http.post("/graphql", content=b"{", headers={**given, "content-type": "application/json"}),
        gateway.http.get("/graphql", headers={**given, "accept": "text/html"}),
        # A browser's request, through CORS: echoed once.
        gateway.http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={**given, "origin": "http://x.test"}
        ),
    ):
        assert response.headers.get_list("x-request-id") == ["caller-chosen-42"], response.url

    made = {
        gateway.http.get("/healthz").headers["x-request-id"],
        gateway.http.post("/graphql", json={"query": "{ __typename }"}).headers["x-request-id"],
        gateway.http.get("/healthz", headers={"x-request-id": "not sane"}).headers["x-request-id"],
    }
    assert len(made) == 3
    assert all(GENERATED.fullmatch(rid) for rid in made)


# ---------------------------------------------------------------- the operation line


def test_one_json_line_per_operation_with_its_calls_and_errors(
    capture: Any, make_gateway: GatewayFactory, eras: Upstream
) -> None:
    stream = capture("info", "json")
    gateway = make_gateway(cache_url="memory://")
    data_of(gateway.query(PROJECT, x_request_id="op-1"))
    data_of(gateway.query(PROJECT, x_request_id="op-2"))  # the response cache's: no line at INFO
    eras.faults.inject("^/comments", status=500, body=b"{}")
    failed = gateway.query(
        'query Two { zooniverse { a: project(id: "335") { comments { total } } b: project(id: "1234") { comments { total } } } }',
        x_request_id="op-3",
    )
    assert codes(failed) == ["UPSTREAM_UNAVAILABLE"]
    invalid = gateway.post("{ zooniverse { nothing } }", x_request_id="op-4")
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    lines = [json.loads(line) for line in lines_of(stream)]
    operations = [line for line in lines if line["logger"] == "gateway.operation"]
    assert [line["request_id"] for line in operations] == ["op-1", "op-3", "op-4"]
    first, third, fourth = operations
    assert first["level"] == "INFO"
    assert first["message"].startswith("query Project ok in ")
    assert (first["operation"], first["operation_type"], first["outcome"]) == ("Project", "query", "ok")
    assert first["upstream_calls"] == 1
    assert first["cache"] == {"ERAS": {"miss": 1}}
    assert first["errors"] == []
    assert first["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    # Failed calls are no lookups; the one kept answer is a hit.
    assert (third["operation"], third["outcome"]) == ("Two", "partial")
    assert third["cache"] == {"ERAS": {"hit": 1}}
    assert third["errors"] == ["UPSTREAM_UNAVAILABLE"]
    assert (fourth["operation"], fourth["outcome"], fourth["errors"]) == (
        None,
        "error",
        ["GRAPHQL_VALIDATION_FAILED"],
    )
    # No upstream URL at INFO.
    assert not any("/comments" in line for line in lines_of(stream))


def test_at_debug_the_hot_path_and_the_upstream_urls_are_logged(
    capture: Any, make_gateway: GatewayFactory
) -> None:
    stream = capture("debug", "json")
    gateway = make_gateway(cache_url="memory://")
    data_of(gateway.query(PROJECT, x_request_id="hot-1"))
    data_of(gateway.query(PROJECT, x_request_id="hot-2"))

    lines = [json.loads(line) for line in lines_of(stream)]
    kept = [
        line for line in lines if line.get("request_id") == "hot-2" and line["logger"] == "gateway.operation"
    ]
    assert [(line["level"], line["cache"]) for line in kept] == [("DEBUG", {"RESPONSE": {"hit": 1}})]
    urls = [line for line in lines if line["logger"] == "gateway.upstream" and "/comments" in line["message"]]
    assert len(urls) == 1
    assert urls[0]["level"] == "DEBUG"
    assert urls[0]["request_id"] == "hot-1"  # every line of a request carries its id


def test_the_text_format_has_the_same_fields(capture: Any, gateway: Gateway) -> None:
    stream = capture("info", "text")
    data_of(gateway.query(PROJECT, x_request_id="text-1"))

    (line,) = [line for line in lines_of(stream) if "gateway.operation" in line]
    assert re.match(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gateway.operation: query Project ok in ", line
    )
    for field in (
        "request_id=text-1",
        "operation=Project",
        "outcome=ok",
        "upstream_calls=1",
        "cache=ERAS:miss=1",
    ):
        assert f" {field}" in line, line


def test_lines_are_scrubbed_of_anything_shaped_like_a_credential(capture: Any) -> None:
    stream = capture("info", "json")
    logging.getLogger("gateway.test").warning(
        "sent Authorization: Bearer abc.def-123 and Basic dXNlcjpwYXNz to redis://:hunter2@cache:6379/0"
    )
    (line,) = lines_of(stream)
    assert "abc.def-123" not in line
    assert "dXNlcjpwYXNz" not in line
    assert "hunter2" not in line
    assert "Bearer [redacted]" in line


# ---------------------------------------------------------------- no credential, ever


def test_a_debug_run_with_credentials_and_failures_logs_no_credential(
    eras: Upstream, figshare: Upstream, tmp_path: Path
) -> None:
    user, password = figshare_data.DEMO_INSTITUTIONS["lboro"]
    basic = figshare_data.basic_header(user, password)
    token = eras_data.VOLUNTEER_TOKEN
    cache_password = "redis-password-never-logged"
    cache_secret = "cache-secret-never-logged"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_"))}
    env.update(
        GATEWAY_ERAS_URL=eras.url,
        GATEWAY_FIGSHARE_URL=figshare.url,
        GATEWAY_LOG_FORMAT="json",
        # Nothing listens there: every cache operation fails, and the gateway says so.
        GATEWAY_CACHE_URL=f"redis://:{cache_password}@127.0.0.1:1/0",
        GATEWAY_CACHE_SECRET=cache_secret,
        GATEWAY_CACHE_OP_TIMEOUT_S="0.2",
    )
    port = free_port()
    log_file = tmp_path / "gateway.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "stats-gateway"), "serve", "--port", str(port), "--log-level", "debug"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process)
        figshare.faults.inject("/766365$", status=500, body=b"{}")
        headers = {"authorization": f"Bearer {token}", "x-figshare-authorization": basic}
        mine = '{ zooniverse { user(id: "%s") { classifications { total } } } }' % eras_data.VOLUNTEER_ID
        queries = [
            (mine, headers),
            (LBORO_SERIES, headers),
            ('{ figshare { article(id: "766365") { views { total } } } }', headers),  # fails upstream
            (mine, {}),  # refused: no credential
            (mine, {"authorization": "Bearer wrong-token-1"}),  # refused upstream
        ]
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
            for query, sent in queries:
                assert client.post("/graphql", json={"query": query}, headers=sent).status_code == 200
            assert client.get("/readyz").status_code == 503
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    output = log_file.read_text()
    assert code in (0, -signal.SIGTERM), output  # uvicorn ends by the signal it was sent
    assert "Finished server process" in output

    parsed = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
    assert sum(line["logger"] == "gateway.operation" for line in parsed) == len(queries)
    assert any(line["logger"] == "gateway.cache" and line["level"] == "WARNING" for line in parsed), output
    assert any(line["logger"] == "uvicorn.access" for line in parsed)  # on at DEBUG
    assert any(
        line["logger"] == "gateway.upstream" and "/lboro/timeline/" in line["message"] for line in parsed
    )
    encoded = basic.split()[1]
    secrets = [token, "wrong-token-1", basic, encoded, base64.b64decode(encoded).decode(), user, password]
    secrets += [cache_password, cache_secret, encoded[:12], encoded[-12:]]
    for secret in secrets:
        assert secret not in output, secret


LBORO_SERIES = """
{ figshare(institution: "lboro") {
    article(id: "766364") {
      views(startDate: "2026-01-01", endDate: "2026-10-31") { series(period: MONTH) { start count } }
    }
} }
"""


def wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)  # polling another process's start-up: nothing to await
    raise AssertionError(f"{url} did not come up")
