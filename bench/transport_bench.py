#!/usr/bin/env python3
"""The upstream transport: httpx's own pool and aiohttp's against the gateway's, for the same requests.

    pip install -e ".[bench]"      # aiohttp, for its row
    python bench/transport_bench.py [--requests 4000] [--concurrency 32]

Needs the peers' upstream simulator on :9101 (``../shared/peers/upstream_sim.py``); sets its added
latency to 0 so the client's own CPU is what is measured. For each way of sending, the same GET
(with a different bearer token each time, as the uncached authenticated path does) is sent
``--requests`` times, ``--concurrency`` at a time, after a warm-up; the CPU time of this process
per request is printed, with the requests per second.

- httpx.AsyncClient (httpcore's pool): what the gateway used first;
- httpx.AsyncClient on the gateway's transport (``upstream/transport.py``: HTTP/1.1 on pooled
  event-loop connections, answers parsed by httptools);
- the transport alone (httpx.Request -> transport.handle_async_request), as upstream/client.py
  sends: the body as a stream, no cookie jar, redirects or proxy handling it does not need;
- an aiohttp session alone, which the gateway's transport used to wrap.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import urllib.request
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import orjson
import uvloop

from gateway.upstream.transport import UpstreamTransport

URL = "http://127.0.0.1:9101/classifications/users/42?time_spent=true"
EMPTY = httpx.ByteStream(b"")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(name: str, send: Callable[[int], Awaitable[None]], requests: int, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            await send(i)

    await asyncio.gather(*(one(i) for i in range(200)))  # warm-up: connections opened
    cpu0, wall0 = cpu(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    cpu1, wall1 = cpu(), time.perf_counter()
    print(f"| {name} | {1000 * (cpu1 - cpu0) / requests:.3f} | {requests / (wall1 - wall0):.0f} |")


async def main(requests: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    print("| client | CPU ms/request | requests/s |\n|---|---:|---:|")
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def httpx_pool(i: int) -> None:
            orjson.loads((await client.get(URL, headers={"Authorization": f"Bearer t{i}"})).content)

        await measure("httpx.AsyncClient, httpcore pool", httpx_pool, requests, concurrency)
    transport = UpstreamTransport(max_connections=128)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:

        async def gateways_transport(i: int) -> None:
            orjson.loads((await client.get(URL, headers={"Authorization": f"Bearer t{i}"})).content)

        await measure("httpx.AsyncClient, the gateway's transport", gateways_transport, requests, concurrency)
    transport = UpstreamTransport(max_connections=128)
    url = httpx.URL(URL)

    async def transport_alone(i: int) -> None:
        request = httpx.Request("GET", url, headers=[("Authorization", f"Bearer t{i}")], stream=EMPTY)
        response = await transport.handle_async_request(request)
        try:
            orjson.loads(await response.aread())
        finally:
            await response.aclose()

    await measure("httpx.Request through the gateway's transport", transport_alone, requests, concurrency)
    await transport.aclose()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as session:

        async def aiohttp_alone(i: int) -> None:
            async with session.get(URL, headers={"Authorization": f"Bearer t{i}"}) as response:
                orjson.loads(await response.read())

        await measure("aiohttp session alone", aiohttp_alone, requests, concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    urllib.request.urlopen(
        urllib.request.Request("http://127.0.0.1:9101/__latency?ms=0", method="POST")
    ).read()
    uvloop.run(main(args.requests, args.concurrency))
