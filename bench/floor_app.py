#!/usr/bin/env python3
"""The floor of the unique-auth scenarios: what the simulator and wrk allow a Python server.

    python3 ../shared/peers/compare.py --rounds 3 --scenarios unique-auth,unique-auth-0ms \
        --gateway-cmd "python bench/floor_app.py"

Serves on 127.0.0.1:8300, on the gateway's own HTTP stack (uvicorn with httptools and uvloop) and
its upstream transport, a bare ASGI callable that does only what one unique-auth request needs
done: read the body, send one GET with the caller's bearer token to ERAS (``GATEWAY_ERAS_URL``),
read the answer and return a fixed JSON answer of the right shape. No GraphQL, cache, credentials
scope, metrics or log line. Its requests per second at 20 ms are the most any Python server can
show on the same machine and simulator; the gateway's distance from it is what is left to win.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import uvicorn

from gateway.upstream.transport import UpstreamTransport

ANSWER = b'{"data":{"zooniverse":{"user":{"classifications":{"total":25}}}}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


def make_app(eras_url: str) -> Any:
    url = httpx.URL(f"{eras_url}/classifications/users/42")
    transport: UpstreamTransport | None = None

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
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        token = dict(scope["headers"]).get(b"authorization", b"").decode()
        assert transport is not None
        outgoing = httpx.Request("GET", url, headers=[("authorization", token)])
        answer = await transport.handle_async_request(outgoing)
        await answer.aread()
        status = 502 if answer.status_code >= 500 else 200  # compare.py's start-up check sends no token
        await send({"type": "http.response.start", "status": status, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})

    return app


if __name__ == "__main__":
    eras = os.environ.get("GATEWAY_ERAS_URL", "http://127.0.0.1:9101")
    uvicorn.run(
        make_app(eras),
        host="127.0.0.1",
        port=8300,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
