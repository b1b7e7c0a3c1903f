#!/usr/bin/env python3
"""The floor of the peers' uncached scenarios: what the simulator and wrk allow a Python server.

    python3 ../shared/peers/compare.py --rounds 3 --scenarios fanout,unique-auth,unique-auth-0ms \
        --gateway-cmd "python $PWD/bench/floor_app.py"

Serves on 127.0.0.1:8300, on the gateway's own HTTP stack (uvicorn with httptools and uvloop) and
its upstream transport, a bare ASGI callable that does only the upstream work a scenario's request
needs: read the body, send the upstream GETs (concurrently) and read their answers, then return a
fixed JSON answer. A request with ``variables.id`` (fanout) makes the six requests the fan-out
query needs, 3 to ERAS (``GATEWAY_ERAS_URL``) and 3 to Figshare (``GATEWAY_FIGSHARE_URL``); any
other makes unique-auth's one, with the caller's bearer token. No GraphQL, cache, credential
scope, metrics or log line. Its requests per second at 20 and 50 ms are the most a Python server
can show on the same machine and simulator; the gateway's distance from them is what is left.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import orjson
import uvicorn

from gateway.upstream.transport import UpstreamTransport

ANSWER = b'{"data":{"zooniverse":{"user":{"classifications":{"total":25}}}}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


def fanout_urls(eras: str, figshare: str, item: str) -> list[str]:
    return [
        f"{eras}/classifications?workflow_id={item}",
        f"{eras}/classifications?project_id={item}",
        f"{eras}/classifications/users/{item}?time_spent=true",
        f"{figshare}/total/views/article/{item}",
        f"{figshare}/timeline/month/views/article/{item}",
        f"{figshare}/total/downloads/article/{item}",
    ]


def make_app(eras: str, figshare: str) -> Any:
    user = httpx.URL(f"{eras}/classifications/users/42")
    transport: UpstreamTransport | None = None

    async def get(url: httpx.URL | str, token: str) -> int:
        assert transport is not None
        answer = await transport.handle_async_request(
            httpx.Request("GET", url, headers=[("authorization", token)])
        )
        await answer.aread()
        return answer.status_code

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal transport
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            transport = UpstreamTransport(max_connections=100)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await transport.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        token = dict(scope["headers"]).get(b"authorization", b"").decode()
        item = (orjson.loads(body or b"{}").get("variables") or {}).get("id")
        if item is None:
            statuses = [await get(user, token)]
        else:
            urls = fanout_urls(eras, figshare, item)
            statuses = list(await asyncio.gather(*(get(url, token) for url in urls)))
        # compare.py's start-up check sends no token: only an upstream failure fails the answer.
        status = 502 if max(statuses) >= 500 else 200
        await send({"type": "http.response.start", "status": status, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})

    return app


if __name__ == "__main__":
    app = make_app(
        os.environ.get("GATEWAY_ERAS_URL", "http://127.0.0.1:9101"),
        os.environ.get("GATEWAY_FIGSHARE_URL", "http://127.0.0.1:9102"),
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=8300,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
