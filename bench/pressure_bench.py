"""What asking an upstream politely costs a call that succeeds at once: CPU per upstream call.

One ``Upstream`` (the process-wide part of every upstream call: single-flight, breaker, retries,
pause, rate, in-flight slots) sends ``--calls`` requests one after another through a transport
that answers at once in memory, with the do-nothing cache so that every call is sent. Measured:

* ``plain``: no rate limit, no pause in force (the happy path);
* ``plain, Redis board``: the same with the pauses shared through Redis (as with a Redis cache);
* ``rate, local``: a rate limit too high to make anyone wait, kept by the process;
* ``rate, Redis``: the same limit kept in Redis (one script call per request).

Run it on this checkout, and with ``--source DIR`` on another one (a checkout of the previous
commit, say) for the same table before the change: what a row costs more is what the change
costs. Redis is the one at 127.0.0.1:6379 (db 15, a namespace of the run's own, removed after).

    python bench/pressure_bench.py [--calls 20000] [--repeats 5] [--source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import platform
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ARGS = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ARGS.add_argument("--calls", type=int, default=20_000)
ARGS.add_argument("--repeats", type=int, default=5)
ARGS.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
OPTIONS = ARGS.parse_args()
sys.path.insert(0, str(OPTIONS.source))

import httpx  # noqa: E402
import redis  # noqa: E402

from gateway.cache import Cache, GuardedCache, create_cache  # noqa: E402
from gateway.upstream.breaker import CircuitBreaker  # noqa: E402
from gateway.upstream.calls import TtlPolicy, UpstreamRequest  # noqa: E402
from gateway.upstream.client import Upstream  # noqa: E402
from gateway.upstream.retry import Pressure, Retrying  # noqa: E402

REDIS = "redis://127.0.0.1:6379/15"
BODY = b'{"totals": 1}'


class Instant(httpx.AsyncBaseTransport):
    """Answers every request at once, from memory."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BODY)


class Hooks:
    def parse_body(self, body: bytes) -> Any:
        return body

    def error_from_response(self, request: Any, status: int, body: bytes, retry_after_s: Any) -> Any:
        raise AssertionError(f"unexpected status {status}")


def upstream(max_rps: float, board: Any) -> Upstream:
    kwargs: dict[str, Any] = {"max_rps": max_rps}
    if board is not None:
        kwargs["board"] = board
    return Upstream(
        "FIGSHARE",
        base_url="http://upstream.invalid",
        transport=Instant(),
        cache=GuardedCache(Cache()),
        policy=TtlPolicy(),
        timeout_s=10,
        breaker=CircuitBreaker(5, 30),
        retrying=Retrying(2, 0.1),
        pressure=Pressure("FIGSHARE", **kwargs),
    )


async def per_call_us(client: Upstream, calls: int) -> tuple[float, float]:
    """Wall and CPU microseconds per call, for ``calls`` calls one after another."""
    requests = [UpstreamRequest("GET", f"/total/views/article/{i}") for i in range(calls)]
    keys = [client.cache_key(r) for r in requests]
    hooks = Hooks()
    wall, cpu = time.perf_counter(), time.process_time()
    for request, key in zip(requests, keys, strict=True):
        await client.fetch(request, key, hooks)
    return (time.perf_counter() - wall) * 1e6 / calls, (time.process_time() - cpu) * 1e6 / calls


async def measure(name: str, client: Upstream) -> None:
    await per_call_us(client, min(2000, OPTIONS.calls))  # warm-up
    runs = [await per_call_us(client, OPTIONS.calls) for _ in range(OPTIONS.repeats)]
    # The least is the cost itself; more is other processes' work sharing the cores and caches.
    wall = min(r[0] for r in runs)
    cpu = min(r[1] for r in runs)
    median = statistics.median(r[1] for r in runs)
    print(f"| {name} | {OPTIONS.calls} x {OPTIONS.repeats} | {wall:.1f} | {cpu:.1f} | {median:.1f} |")


async def main() -> None:
    shared = "board" in inspect.signature(Pressure).parameters
    print(f"source: {OPTIONS.source}; CPython {platform.python_version()}; {platform.machine()}")
    print("\n| case | calls | wall µs/call (least) | CPU µs/call (least) | CPU µs/call (median) |")
    print("|---|---:|---:|---:|---:|")
    await measure("plain", upstream(0.0, None))
    await measure("rate, local", upstream(1e9, None))
    if not shared:
        return
    namespace = f"bench-{secrets.token_hex(4)}"
    cache = create_cache(f"{REDIS}?namespace={namespace}")
    try:
        board = cache.board()
        assert board is not None
        joined = board.start({"FIGSHARE": lambda seconds: True})
        await joined
        await measure("plain, Redis board", upstream(0.0, board))
        await measure("rate, Redis", upstream(1e9, board))
        await board.close()
    finally:
        await cache.close()
        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    asyncio.run(main())
