"""HTTP bounds of ``stats-gateway serve``, over raw sockets against a real process, and ``/readyz``.

A connection is known closed when ``recv`` gives ``b""`` (or a reset) within a bounded wait; slow
clients are played by sending a byte at a time, paced by ``select`` on the same socket (which also
notices the closure). Then readiness: each upstream's state is in ``/readyz``'s body, an outage
never makes the replica unready, and the upstream client recovers on its own.
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.app import create_app
from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.eras_data import ErasDataset
from gateway.emulators.recorder import EmulatorApp
from gateway.emulators.server import LoopbackServer
from gateway.settings import Settings
from tests.cache_support import GatewayProcess
from tests.conftest import Gateway, Upstream, codes, data_of, fixed_today

pytest_plugins = ("tests.cache_fixtures",)

HEADER_S, BODY_S, SHUTDOWN_S, MAX_BODY = 1, 2, 2, 4096
BOUND_S = 15.0  # how long a test waits for what must happen well before
GAP_S = 0.25  # between two bytes of a slow client
QUERY = b'{"query": "{ zooniverse { classifications { total } } }"}'


@pytest.fixture
def served(
    gateway_processes: Callable[..., list[GatewayProcess]], eras: Upstream, figshare: Upstream
) -> GatewayProcess:
    (process,) = gateway_processes(
        {
            "GATEWAY_ERAS_URL": eras.url,
            "GATEWAY_FIGSHARE_URL": figshare.url,
            "GATEWAY_CACHE_URL": "none://",
            "GATEWAY_HTTP_HEADER_TIMEOUT_S": str(HEADER_S),
            "GATEWAY_HTTP_BODY_TIMEOUT_S": str(BODY_S),
            "GATEWAY_HTTP_KEEPALIVE_TIMEOUT_S": "1",
            "GATEWAY_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_S),
            "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
            "GATEWAY_UPSTREAM_TIMEOUT_S": "120",  # a hanging upstream outlasts the shutdown
        }
    )
    return process


@pytest.fixture
def connect(served: GatewayProcess) -> Iterator[Callable[[], socket.socket]]:
    opened: list[socket.socket] = []
    address = urlsplit(served.url)

    def open_one() -> socket.socket:
        sock = socket.create_connection((address.hostname, address.port), timeout=BOUND_S)
        opened.append(sock)
        return sock

    yield open_one
    for sock in opened:
        sock.close()


def closed(sock: socket.socket, within: float = BOUND_S) -> bool:
    """Whether the server closes the connection within ``within`` s (reading whatever it sends)."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return False


def trickle(sock: socket.socket, data: bytes) -> int:
    """Send ``data`` a byte every ``GAP_S`` until the server closes; how many bytes it took."""
    for sent in range(len(data)):
        readable, _, _ = select.select([sock], [], [], GAP_S)  # paces the bytes, sees the closure
        if readable and closed(sock, 0.1):
            return sent
        try:
            sock.sendall(data[sent : sent + 1])
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return len(data)


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one response (``Content-Length`` framed)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def post(body: bytes, *headers: str) -> bytes:
    lines = ["POST /graphql HTTP/1.1", "Host: gateway", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_body_over_the_limit_gets_413_with_a_json_error(connect: Callable[[], socket.socket]) -> None:
    sock = connect()
    sock.sendall(post(b"x" * (MAX_BODY + 1), f"Content-Length: {MAX_BODY + 1}"))
    status, body = answer(sock)
    assert status == 413
    assert b"GATEWAY_MAX_BODY_BYTES" in body
    assert b'"code"' in body
    chunked = connect()  # no length announced: counted as it arrives
    chunk = b"x" * 1024
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    chunked.sendall(post(chunks, "Transfer-Encoding: chunked"))
    status, body = answer(chunked)
    assert status == 413
    assert b"GATEWAY_MAX_BODY_BYTES" in body


def test_a_connection_that_never_sends_a_request_is_closed(
    connect: Callable[[], socket.socket], served: GatewayProcess
) -> None:
    assert closed(connect())
    healthy = connect()
    healthy.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    assert answer(healthy) == (200, b'{"status":"ok"}')  # the server itself is unharmed


def test_half_sent_headers_are_closed(connect: Callable[[], socket.socket]) -> None:
    sock = connect()
    sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\n")
    assert closed(sock)


def test_headers_sent_a_byte_at_a_time_are_cut_off(connect: Callable[[], socket.socket]) -> None:
    request = post(QUERY, f"Content-Length: {len(QUERY)}", "X-Padding: " + "p" * 200)
    assert trickle(connect(), request) < len(request) - len(QUERY)


def test_headers_trickled_after_a_kept_alive_request_are_cut_off_too(
    connect: Callable[[], socket.socket],
) -> None:
    sock = connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    assert answer(sock) == (200, b'{"status":"ok"}')
    request = post(QUERY, f"Content-Length: {len(QUERY)}", "X-Padding: " + "p" * 200)
    assert trickle(sock, request) < len(request) - len(QUERY)


def test_a_body_sent_a_byte_at_a_time_is_cut_off(connect: Callable[[], socket.socket]) -> None:
    sock = connect()
    body = QUERY + b" " * 200
    sock.sendall(post(b"", f"Content-Length: {len(body)}"))
    assert trickle(sock, body) < len(body)


def test_an_idle_keep_alive_connection_is_closed(connect: Callable[[], socket.socket]) -> None:
    sock = connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    assert answer(sock)[0] == 200
    assert closed(sock)


def test_sigterm_ends_the_process_while_a_request_hangs_upstream(
    served: GatewayProcess, connect: Callable[[], socket.socket], eras: Upstream
) -> None:
    eras.faults.inject(r"^/classifications$", hang=True)
    connect().sendall(post(QUERY, f"Content-Length: {len(QUERY)}"))
    deadline = time.monotonic() + BOUND_S
    while not eras.log.matching("/classifications") and time.monotonic() < deadline:
        time.sleep(0.01)  # polled with a bound: the request reaching the upstream
    assert eras.log.matching("/classifications")
    served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(timeout=SHUTDOWN_S + 8)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {SHUTDOWN_S + 8} s after SIGTERM:\n{served.output()}")
    assert served.process.returncode is not None


# ----------------------------------------------------------------------------------------------
# Readiness, and an upstream client that recovers on its own
# ----------------------------------------------------------------------------------------------

TOTAL = "{ zooniverse { classifications { total } } }"


@pytest.fixture
def own_eras(eras_dataset: ErasDataset) -> Iterator[tuple[EmulatorApp, list[LoopbackServer]]]:
    """An ERAS emulator of the test's own, to stop and start again on the same port."""
    emulator = build_eras_emulator(eras_dataset, today=fixed_today)
    servers = [emulator.serve()]
    yield emulator, servers
    servers[-1].stop()


def upstreams(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    response = gateway.http.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body["upstreams"]


def test_readyz_says_when_an_upstream_is_unreachable_stays_ready_and_the_client_recovers(
    own_eras: tuple[EmulatorApp, list[LoopbackServer]], figshare: Upstream
) -> None:
    emulator, servers = own_eras
    port = servers[0].port
    settings = Settings(
        eras_url=servers[0].url,
        figshare_url=figshare.url,
        cache_url="none://",
        cache_secret="t",
        upstream_retries=0,
        breaker_failures=3,
        breaker_reset_s=0.2,
    )
    gateway = Gateway(LoopbackServer(create_app(settings, today=fixed_today)).start())
    try:
        expected = data_of(gateway.query(TOTAL))
        assert upstreams(gateway) == (
            200,
            {"ERAS": {"reachable": True, "state": "ok"}, "FIGSHARE": {"reachable": True, "state": "ok"}},
        )

        servers[-1].stop()  # ERAS goes away
        assert codes(gateway.query(TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
        status, state = upstreams(gateway)
        assert status == 200  # an outage every replica shares never drains this one
        assert state["ERAS"]["reachable"] is False
        assert state["ERAS"]["state"] == "failing"
        assert state["ERAS"]["consecutiveFailures"] == 1
        assert "failed" in state["ERAS"]["reason"]
        assert state["FIGSHARE"] == {"reachable": True, "state": "ok"}

        servers.append(emulator.serve(port=port))  # back, on the same port
        assert data_of(gateway.query(TOTAL)) == expected  # the very next call works
        assert upstreams(gateway)[1]["ERAS"] == {"reachable": True, "state": "ok"}

        servers[-1].stop()
        for _ in range(3):
            assert codes(gateway.query(TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
        status, state = upstreams(gateway)
        assert status == 200
        assert state["ERAS"]["state"] == "circuit-open"
        assert state["ERAS"]["reachable"] is False
        assert state["ERAS"]["consecutiveFailures"] == 3
        assert 0 <= state["ERAS"]["retryInSeconds"] <= 1  # GATEWAY_BREAKER_RESET_S, rounded up

        servers.append(emulator.serve(port=port))
        deadline, result = time.monotonic() + BOUND_S, gateway.query(TOTAL)
        while result.get("errors") and time.monotonic() < deadline:
            result = gateway.query(TOTAL)  # polled with a bound: the circuit lets a trial through
        assert data_of(result) == expected
        assert upstreams(gateway) == (
            200,
            {"ERAS": {"reachable": True, "state": "ok"}, "FIGSHARE": {"reachable": True, "state": "ok"}},
        )
    finally:
        gateway.close()


def test_after_a_burst_of_timeouts_the_client_recovers_once_the_upstream_answers(
    make_gateway: Callable[..., Gateway], eras: Upstream
) -> None:
    gateway = make_gateway(upstream_timeout_s=0.3, upstream_retries=0, breaker_reset_s=0.2)
    eras.faults.inject(r"^/classifications$", delay_s=1.0)
    burst = "{ zooniverse { %s } }" % " ".join(
        f'p{i}: project(id: "{i}") {{ classifications {{ total }} }}' for i in range(1, 41)
    )
    assert set(codes(gateway.query(burst))) == {"UPSTREAM_TIMEOUT"}
    status, state = upstreams(gateway)
    assert status == 200
    assert state["ERAS"]["reachable"] is False
    eras.faults.clear()
    deadline, result = time.monotonic() + BOUND_S, gateway.query(TOTAL)
    while result.get("errors") and time.monotonic() < deadline:
        result = gateway.query(TOTAL)
    assert data_of(result)["zooniverse"]["classifications"]["total"] > 0
    assert upstreams(gateway)[1]["ERAS"] == {"reachable": True, "state": "ok"}
