"""gateway/upstream/transport.py over a real loopback socket: what is sent, what is handed back to
httpx (bodies whole, compressed ones decoded by httpx as usual), and failures as httpx's errors."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from gateway.upstream.transport import UpstreamTransport

Answer = Callable[[bytes], bytes]  # the raw request -> the raw response


async def _serve(answer: Answer, seen: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        raw = head + (await reader.readexactly(length) if length else b"")
        seen.append(raw)
        writer.write(answer(raw))
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _response(body: bytes, *headers: bytes) -> bytes:
    head = [
        b"HTTP/1.1 200 OK",
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
        *headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.fixture
async def transport() -> AsyncIterator[UpstreamTransport]:
    sending = UpstreamTransport(max_connections=4)
    yield sending
    await sending.aclose()


async def _send(
    transport: UpstreamTransport, answer: Answer, request: httpx.Request
) -> tuple[httpx.Response, bytes]:
    seen: list[bytes] = []
    server = await _serve(answer, seen)
    port = server.sockets[0].getsockname()[1]
    request.url = request.url.copy_with(port=port)
    try:
        response = await transport.handle_async_request(request)
        await response.aread()
    finally:
        server.close()
        await server.wait_closed()
    return response, seen[0]


async def test_a_get_goes_out_with_its_headers_and_comes_back_whole(transport: UpstreamTransport) -> None:
    request = httpx.Request(
        "GET",
        "http://127.0.0.1/classifications?period=day",
        headers=[("Accept", "application/json"), ("Authorization", "Bearer t0k")],
        stream=httpx.ByteStream(b""),
    )
    response, sent = await _send(transport, lambda raw: _response(b'{"total_count":3}'), request)
    assert sent.startswith(b"GET /classifications?period=day HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t0k\r\n" in sent
    assert response.status_code == 200
    assert response.json() == {"total_count": 3}
    assert response.headers["content-type"] == "application/json"


async def test_a_post_sends_its_body(transport: UpstreamTransport) -> None:
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/count/articles",
        headers=[("Content-Type", "application/json")],
        stream=httpx.ByteStream(b'{"item_ids":[1,2]}'),
    )
    response, sent = await _send(transport, lambda raw: _response(b'{"1":4}'), request)
    assert sent.endswith(b'\r\n\r\n{"item_ids":[1,2]}')
    assert response.json() == {"1": 4}


async def test_a_compressed_body_is_decoded_by_httpx(transport: UpstreamTransport) -> None:
    squeezed = gzip.compress(b'{"totals":{"views":7}}')
    request = httpx.Request("GET", "http://127.0.0.1/totals", stream=httpx.ByteStream(b""))
    response, _ = await _send(transport, lambda raw: _response(squeezed, b"Content-Encoding: gzip"), request)
    assert response.json() == {"totals": {"views": 7}}


async def test_a_refused_connection_is_httpx_connect_error(transport: UpstreamTransport) -> None:
    server = await _serve(lambda raw: b"", [])
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on the port any more
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/"))


async def test_a_connection_dropped_before_the_answer_is_a_protocol_error(
    transport: UpstreamTransport,
) -> None:
    request = httpx.Request("GET", "http://127.0.0.1/totals", stream=httpx.ByteStream(b""))
    with pytest.raises(httpx.RemoteProtocolError):
        await _send(transport, lambda raw: b"", request)


# ---------------------------------------------------------------- connections kept and reused


class Upstream:
    """A loopback HTTP/1.1 server that keeps connections open: counts them and what came in."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:  # connections still kept alive by the transport
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self.server.wait_closed()

    def url(self, path: str = "/totals") -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(raw)
                writer.write(self.answer(raw))
                await writer.drain()
                if b"close" in self.answer(raw).split(b"\r\n\r\n")[0].lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def get(url: str, *headers: tuple[str, str]) -> httpx.Request:
    return httpx.Request("GET", url, headers=list(headers), stream=httpx.ByteStream(b""))


async def test_one_connection_serves_one_request_after_another(transport: UpstreamTransport) -> None:
    async with Upstream(lambda raw: _response(b"{}")) as upstream:
        for _ in range(3):
            response = await transport.handle_async_request(get(upstream.url()))
            assert response.json() == {}
    assert upstream.connections == 1
    assert len(upstream.requests) == 3
    assert all(b"\r\nHost: 127.0.0.1:" in raw for raw in upstream.requests)


async def test_an_answer_that_closes_its_connection_is_not_reused(transport: UpstreamTransport) -> None:
    async with Upstream(lambda raw: _response(b"{}", b"Connection: close")) as upstream:
        for _ in range(2):
            assert (await transport.handle_async_request(get(upstream.url()))).status_code == 200
    assert upstream.connections == 2


async def test_callers_beyond_the_limit_wait_for_a_connection() -> None:
    limited = UpstreamTransport(max_connections=2)
    try:
        async with Upstream(lambda raw: _response(b"{}")) as upstream:
            answers = await asyncio.gather(
                *(limited.handle_async_request(get(upstream.url())) for _ in range(10))
            )
        assert [a.status_code for a in answers] == [200] * 10
        assert upstream.connections == 2
    finally:
        await limited.aclose()


async def test_a_chunked_answer_and_one_that_ends_with_its_connection_arrive_whole(
    transport: UpstreamTransport,
) -> None:
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    response, _ = await _send(transport, lambda raw: chunked, get("http://127.0.0.1/c"))
    assert response.json() == {"a": 1}
    unbounded = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"b":2}'
    response, _ = await _send(transport, lambda raw: unbounded, get("http://127.0.0.1/u"))
    assert response.json() == {"b": 2}


async def test_an_informational_answer_is_skipped(transport: UpstreamTransport) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + _response(b'{"c":3}')
    response, _ = await _send(transport, lambda raw: answer, get("http://127.0.0.1/i"))
    assert response.status_code == 200
    assert response.json() == {"c": 3}


async def test_an_unreadable_answer_is_a_protocol_error(transport: UpstreamTransport) -> None:
    with pytest.raises(httpx.RemoteProtocolError) as raised:
        await _send(transport, lambda raw: b"SMTP ready\r\n\r\n", get("http://127.0.0.1/x"))
    assert raised.value.request.url.path == "/x"


async def test_a_line_break_in_a_header_value_sends_nothing(transport: UpstreamTransport) -> None:
    async with Upstream(lambda raw: _response(b"{}")) as upstream:
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(
                get(upstream.url(), ("Authorization", "Bearer a\r\nX-Injected: 1"))
            )
    assert upstream.requests == []


async def test_a_request_cancelled_midway_closes_its_connection(transport: UpstreamTransport) -> None:
    started = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        started.set()
        await reader.read()  # until the gateway's side closes
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sending = asyncio.create_task(transport.handle_async_request(get(f"http://127.0.0.1:{port}/h")))
        await started.wait()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert transport._open == set()
        assert transport._idle == {} or not any(transport._idle.values())
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
    )
    assert made.returncode == 0, made.stderr
    return cert, key


async def test_https_is_verified_against_the_given_trust(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_response(b'{"secure":true}'))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=serving)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/s"
    trusting = UpstreamTransport(max_connections=1, ssl_context=ssl.create_default_context(cafile=cert))
    untrusting = UpstreamTransport(max_connections=1)  # the system's trust store has never seen it
    try:
        assert (await trusting.handle_async_request(get(url))).json() == {"secure": True}
        with pytest.raises(httpx.ConnectError):
            await untrusting.handle_async_request(get(url))
    finally:
        await trusting.aclose()
        await untrusting.aclose()
        server.close()
        await server.wait_closed()


async def test_bytes_after_an_answer_retire_its_connection(transport: UpstreamTransport) -> None:
    extra = _response(b'{"first":1}') + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    async with Upstream(lambda raw: extra) as upstream:
        first = await transport.handle_async_request(get(upstream.url()))
        second = await transport.handle_async_request(get(upstream.url()))
    assert first.json() == {"first": 1}
    assert second.json() == {"first": 1}  # its own answer, on a connection of its own
    assert upstream.connections == 2
