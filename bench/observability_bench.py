#!/usr/bin/env python3
"""What metrics and tracing cost per request: the hot path and the uncached path, each on and off.

    python bench/observability_bench.py [--requests 3000] [--rounds 5]

Both emulators are served by a child process (their CPU is not counted). The gateway's app is
driven in this process directly through ASGI (no HTTP server, no client), so the CPU time of the
process per request is the gateway's own: its view, executor, upstream client and whatever
metrics and tracing add. Logging is configured as ``stats-gateway serve`` does at INFO (JSON, to
/dev/null): the uncached path writes its one line per operation.

- **hot**: a public query answered from the response cache (memory://), asked again and again;
- **uncached**: a query of two upstream calls (one per upstream), no cache at all (none://).

Each configuration: metrics off (``NO_METRICS``) or on (Prometheus, the default), tracing off or on
(an SDK tracer provider with a ``BatchSpanProcessor`` and an exporter that drops the spans, flushed
inside the measured time). Warm-up requests first; the median of ``--rounds`` rounds is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
import uvloop
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from gateway.app import create_app
from gateway.settings import Settings
from gateway.telemetry import logs
from gateway.telemetry.metrics import NO_METRICS

HOT = '{ zooniverse { project(id: "1234") { comments(endDate: "2025-01-01") { total } } } }'
UNCACHED = (
    '{ zooniverse { classifications(endDate: "2025-01-01") { total } } '
    'figshare { article(id: "766365") { views { total } } } }'
)
EMULATORS = """
import sys
from gateway.emulators.demo import Demo
demo = Demo.start()
print(demo.eras.url, demo.figshare.url, flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
"""


class Dropped(SpanExporter):
    """Takes every span and keeps none: the SDK's full cost, without a collector's."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Driver:
    """Runs an ASGI app's lifespan and sends it requests, in this event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.ensure_future(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        assert (await self._from_app.get())["type"] == "lifespan.startup.complete"

    async def stop(self) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        assert (await self._from_app.get())["type"] == "lifespan.shutdown.complete"
        assert self._lifespan is not None
        await self._lifespan

    async def post(self, query: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
        """The answer to ``query``, POSTed with ``headers`` besides its content type and length."""
        body = orjson.dumps({"query": query})
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        answer: list[bytes] = []
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                answer.append(message.get("body", b""))

        await self.app(scope, receive, send)
        assert status == 200, b"".join(answer)
        return b"".join(answer)


async def measure(
    urls: tuple[str, str], path: str, metrics_on: bool, tracing_on: bool, requests: int, warmup: int
) -> float:
    """CPU microseconds per request of one configuration."""
    settings = Settings(
        eras_url=urls[0],
        figshare_url=urls[1],
        cache_url="memory://" if path == "hot" else "none://",
        cache_secret="bench",
    )
    provider = None
    if tracing_on:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
    app = create_app(settings, metrics=None if metrics_on else NO_METRICS, tracer_provider=provider)
    driver = Driver(app)
    await driver.start()
    query = HOT if path == "hot" else UNCACHED
    try:
        for _ in range(warmup):
            answer = await driver.post(query)
            assert b'"errors"' not in answer, answer
        gc.collect()
        started = time.process_time()
        for _ in range(requests):
            await driver.post(query)
        if provider is not None:
            provider.force_flush()  # the spans' export is part of the cost
        used = time.process_time() - started
    finally:
        await driver.stop()
    return used / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per configuration (the median)")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 50_000))
    args.rounds = max(1, min(args.rounds, 20))

    with open(os.devnull, "w") as devnull:
        logs.configure("info", "json", devnull)
        emulators = subprocess.Popen(
            [sys.executable, "-c", EMULATORS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert emulators.stdout is not None
            eras, figshare = emulators.stdout.readline().split()
            gc.set_threshold(50_000, 50, 100)  # as stats-gateway serve tunes it
            results: dict[tuple[str, bool, bool], list[float]] = {}
            configs = [(p, m, t) for p in ("hot", "uncached") for m in (False, True) for t in (False, True)]
            for _ in range(args.rounds):
                for config in configs:  # interleaved, so drifts of the machine spread evenly
                    cost = uvloop.run(measure((eras, figshare), *config, args.requests, args.warmup))
                    results.setdefault(config, []).append(cost)
        finally:
            if emulators.stdin is not None:
                emulators.stdin.close()
            emulators.wait(timeout=30)

    print(f"{args.requests} requests x {args.rounds} rounds, median CPU per request (this process)\n")
    print("| path | metrics | tracing | CPU µs/request | vs both off |")
    print("|---|---|---|---:|---:|")
    for path in ("hot", "uncached"):
        base = statistics.median(results[(path, False, False)])
        for metrics_on in (False, True):
            for tracing_on in (False, True):
                cost = statistics.median(results[(path, metrics_on, tracing_on)])
                print(
                    f"| {path} | {'on' if metrics_on else 'off'} | {'on' if tracing_on else 'off'} "
                    f"| {cost:.1f} | {cost - base:+.1f} ({(cost / base - 1) * 100:+.1f}%) |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
