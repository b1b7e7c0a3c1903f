"""gateway/upstream/transport.py over a real loopback socket: what is sent, what is handed back to
httpx (bodies whole, compressed ones decoded by httpx as usual), and failures as httpx's errors."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

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
