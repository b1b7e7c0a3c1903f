#!/usr/bin/env python3
"""How many times one request is handed back to the event loop, and by whom.

    python bench/turns.py [--requests 100] [--fanout]

Needs the peers' upstream simulator (``../shared/peers/upstream_sim.py``, ERAS on :9101, Figshare
on :9102); sets its added latency to 0. Serves the gateway (default settings) with uvicorn on
asyncio's own loop, in this process, and sends it the unique-auth request (or, with ``--fanout``,
the fan-out query with a fresh id) over a loopback socket, one at a time. While the measured
requests run, ``loop.call_soon`` is wrapped: every callback scheduled is counted, by the task it
wakes (``wake ...``) or the function it calls. Under load each of them waits for a turn of the loop
behind every other connection's ready work, so those on a request's path add to its latency.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
import urllib.request
from typing import Any

import orjson
import uvicorn
from alternate import PEERS  # the peers' scenarios
from inprocess_bench import QUERY as UNIQUE_AUTH  # the unique-auth request

PORT = 8399


def name_of(callback: Any) -> str:
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"wake {getattr(owner.get_coro(), '__qualname__', '?')}"
    return getattr(callback, "__qualname__", None) or repr(callback)[:60]


async def run(args: argparse.Namespace) -> None:
    from gateway.server import config
    from gateway.settings import Settings
    from gateway.telemetry import logs

    settings = Settings.from_env(env_file=None)
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230  # before anything is served
        logs.configure(settings.log_level, settings.log_format, devnull)
        server_config = config(settings, host="127.0.0.1", port=PORT)
        server_config.loop = "asyncio"
        server = uvicorn.Server(server_config)
        server_config.load()
        server.lifespan = server_config.lifespan_class(server_config)
        await server.startup()
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        query = (PEERS / "wrk" / "fanout.graphql").read_text() if args.fanout else UNIQUE_AUTH

        async def one(i: int) -> bytes:
            payload: dict[str, Any] = {"query": query}
            if args.fanout:
                payload["variables"] = {"id": f"{time.time_ns() % 10**9}{i:05d}"}
            body = orjson.dumps(payload)
            token = f"Bearer turns-{time.time_ns()}-{i}".encode()
            head = b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            head += b"authorization: %s\r\ncontent-length: %d\r\n\r\n" % (token, len(body))
            writer.write(head + body)
            lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            length = next(int(line[15:]) for line in lines if line.lower().startswith(b"content-length:"))
            return await reader.readexactly(length)

        for i in range(20):  # warm-up: documents prepared, connections open
            await one(i)
        loop = asyncio.get_running_loop()
        counted: collections.Counter[str] = collections.Counter()
        original = loop.call_soon

        def counting(callback: Any, *call_args: Any, **kwargs: Any) -> Any:
            counted[name_of(callback)] += 1
            return original(callback, *call_args, **kwargs)

        loop.call_soon = counting  # type: ignore[method-assign,assignment]
        try:
            for i in range(args.requests):
                answer = await one(1000 + i)
        finally:
            loop.call_soon = original  # type: ignore[method-assign]
        if b'"errors"' in answer:
            raise SystemExit(f"not a plain answer: {answer[:200]!r}")
        writer.close()
        await server.shutdown()
    n = args.requests
    print(f"{sum(counted.values()) / n:.1f} callbacks per request (the client's own 'wake run' included):")
    for name, count in counted.most_common():
        print(f"{count / n:6.2f}  {name}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--fanout", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("GATEWAY_ERAS_URL", "http://127.0.0.1:9101")
    os.environ.setdefault("GATEWAY_FIGSHARE_URL", "http://127.0.0.1:9102")
    request = urllib.request.Request("http://127.0.0.1:9101/__latency?ms=0", method="POST")
    urllib.request.urlopen(request).read()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
