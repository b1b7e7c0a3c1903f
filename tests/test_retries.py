"""Retries that help and never hurt, over loopback against the emulators.

Idempotent requests that fail with a connection error, 502, 503, 504 or 429 are sent again, with
backoff and jitter, at most GATEWAY_UPSTREAM_RETRIES times (default 2), within the call's deadline
(GATEWAY_UPSTREAM_TIMEOUT_S) and never sooner than ``Retry-After``; other answers never. The proof
is the emulators' own log: how many requests arrived, and when. A 429 with ``Retry-After`` also
pauses the upstream for every later operation (tests/test_pressure.py: for every replica).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from gateway.app import create_app
from gateway.emulators.server import LoopbackServer
from gateway.settings import Settings
from gateway.upstream.retry import retry_after_s
from gateway.upstream.transport import UpstreamTransport
from tests.cache_support import ClockedFactory, FakeClock
from tests.conftest import Gateway, GatewayFactory, codes, data_of, fixed_today

pytest_plugins = ("tests.cache_fixtures",)

TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
TOTAL_PATH = "/total/views/article/766364"
BOTH = '{ zooniverse { classifications { total } } figshare { article(id: "766365") { views { total } } } }'
# Short waits, so the file runs in a few seconds; the defaults are 0.1 s backoff and a 10 s deadline.
FAST = {"upstream_retry_backoff_s": 0.01}


def total_query(article: int) -> str:
    return TOTAL.replace("766364", str(article))


def error_of(result: dict[str, Any]) -> dict[str, Any]:
    [error] = result["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


def test_a_single_503_is_retried_and_the_field_answered(make_gateway: GatewayFactory, figshare: Any) -> None:
    gateway = make_gateway(**FAST)
    figshare.faults.inject(TOTAL_PATH, status=503, body=b"{}", times=1)
    assert data_of(gateway.query(TOTAL))["figshare"]["article"]["views"]["total"] > 0
    assert [r.path for r in figshare.log] == [TOTAL_PATH, TOTAL_PATH]


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_transient_statuses_are_retried_twice_then_fail(
    make_gateway: GatewayFactory, figshare: Any, status: int
) -> None:
    gateway = make_gateway(**FAST)
    figshare.faults.inject(TOTAL_PATH, status=status, body=b"{}")
    result = gateway.query(TOTAL)
    assert error_of(result) == {
        "code": "UPSTREAM_UNAVAILABLE",
        "source": "FIGSHARE",
        "upstreamStatus": status,
    }
    assert len(figshare.log) == 3  # the request and GATEWAY_UPSTREAM_RETRIES=2 retries
    times = [r.at for r in figshare.log]
    assert times == sorted(times)


def test_the_number_of_retries_is_a_setting(make_gateway: GatewayFactory, figshare: Any) -> None:
    gateway = make_gateway(upstream_retries=4, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=503, body=b"{}", times=4)
    data_of(gateway.query(TOTAL))  # the fifth request is answered
    assert len(figshare.log) == 5
    none = make_gateway(upstream_retries=0, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=503, body=b"{}", times=1)
    assert codes(none.query(TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
    assert len(figshare.log) == 6


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, b'{"message": "bad"}', "BAD_USER_INPUT"),
        (401, b"{}", "FORBIDDEN"),
        (403, b"{}", "FORBIDDEN"),
        (404, b"{}", "NOT_FOUND"),
        (500, b"{}", "UPSTREAM_UNAVAILABLE"),
        (200, b"<html>busy</html>", "UPSTREAM_BAD_RESPONSE"),
    ],
)
def test_other_answers_are_never_retried(
    make_gateway: GatewayFactory, figshare: Any, status: int, body: bytes, code: str
) -> None:
    gateway = make_gateway(**FAST)
    figshare.faults.inject(TOTAL_PATH, status=status, body=body)
    assert codes(gateway.query(TOTAL)) == [code]
    assert len(figshare.log) == 1


class DroppingServer:
    """A loopback server that reads each request and closes the connection without an answer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)  # how often the accepting thread looks at ``stopping``
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                if conn.recv(65536):
                    self.requests += 1

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def dropping_server() -> Iterator[DroppingServer]:
    server = DroppingServer()
    yield server
    server.stop()


def test_a_dropped_connection_is_retried_twice_then_fails(eras: Any, dropping_server: DroppingServer) -> None:
    settings = Settings(
        eras_url=eras.url, figshare_url=dropping_server.url, cache_url="none://", cache_secret="s", **FAST
    )
    transport = UpstreamTransport(max_connections=8)
    gateway = Gateway(LoopbackServer(create_app(settings, transport=transport, today=fixed_today)).start())
    try:
        result = gateway.query(TOTAL)
    finally:
        gateway.close()
    assert error_of(result) == {"code": "UPSTREAM_UNAVAILABLE", "source": "FIGSHARE"}
    assert "dropped the connection" in result["errors"][0]["message"]
    assert dropping_server.requests == 3


def test_a_429_is_retried_no_sooner_than_its_retry_after(make_gateway: GatewayFactory, figshare: Any) -> None:
    gateway = make_gateway(upstream_timeout_s=3, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=429, headers={"Retry-After": "1"}, times=1)
    data_of(gateway.query(TOTAL))
    first, second = figshare.log.requests
    assert second.at - first.at >= 1.0


def test_a_retry_after_past_the_deadline_is_not_waited_for(
    make_gateway: GatewayFactory, figshare: Any
) -> None:
    """Retry-After: 5 with a 1 s deadline fails at once (waiting would end in UPSTREAM_TIMEOUT),
    and tells the caller when to come back."""
    gateway = make_gateway(upstream_timeout_s=1, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=429, headers={"Retry-After": "5"}, times=1)
    result = gateway.query(TOTAL)
    assert error_of(result) == {
        "code": "UPSTREAM_UNAVAILABLE",
        "source": "FIGSHARE",
        "upstreamStatus": 429,
        "retryAfter": 5,
    }
    assert len(figshare.log) == 1


def test_after_a_429_the_upstream_is_left_alone_until_its_retry_after(
    make_gateway: GatewayFactory, eras: Any, figshare: Any
) -> None:
    gateway = make_gateway(upstream_timeout_s=1, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=429, headers={"Retry-After": "30"}, times=1)
    assert codes(gateway.query(TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
    assert len(figshare.log) == 1

    # Another operation, another Figshare request: nothing is sent; ERAS is asked as usual.
    result = gateway.query(BOTH)
    error = error_of(result)
    assert error["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["source"] == "FIGSHARE"
    assert 1 <= error["retryAfter"] <= 30
    assert result["data"]["zooniverse"]["classifications"]["total"] > 0
    assert len(figshare.log) == 1
    assert len(eras.log) == 1


def test_while_paused_an_expired_answer_is_served_stale(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_timeout_s=1, **FAST)
    recent = '{ figshare { article(id: "766364") { views(startDate: "2026-11-01") { total } } } }'
    fresh = data_of(gateway.query(recent))
    clock.advance(61)  # past the 60 s of a recent answer
    figshare.faults.inject("^/timeline/", status=429, headers={"Retry-After": "30"}, times=1)
    for _ in range(2):  # the 429 itself, then the pause
        result = gateway.query(recent)
        assert data_of(result) == fresh
        assert result["extensions"]["stale"] == [{"source": "FIGSHARE", "ageSeconds": 61}]
    assert len(figshare.log) == 2  # the fresh answer and the 429: nothing during the pause


def test_the_breaker_counts_calls_not_attempts(make_gateway: GatewayFactory, figshare: Any) -> None:
    """A call a retry rescued is a success; a call whose every attempt failed is one failure."""
    gateway = make_gateway(breaker_failures=1, breaker_reset_s=3600, **FAST)
    figshare.faults.inject(TOTAL_PATH, status=503, body=b"{}", times=1)
    data_of(gateway.query(TOTAL))
    data_of(gateway.query(total_query(766365)))  # the circuit is closed
    assert len(figshare.log) == 3

    figshare.faults.inject(TOTAL_PATH, status=503, body=b"{}")
    assert codes(gateway.query(TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
    assert len(figshare.log) == 6  # one failed call of three attempts opens the circuit
    result = gateway.query(total_query(766366))
    assert error_of(result)["retryAfter"] > 3000  # until the trial call, GATEWAY_BREAKER_RESET_S
    assert len(figshare.log) == 6


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(" 0 ") == 0.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < (retry_after_s(soon) or 0) <= 120
    assert retry_after_s(format_datetime(datetime(2015, 10, 21, tzinfo=UTC), usegmt=True)) == 0.0
    assert retry_after_s("soon") is None
    assert retry_after_s("") is None
