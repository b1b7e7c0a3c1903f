"""Benchmark of the gateway's cache, on loopback only.

Two measurements, each against real gateway processes (uvicorn serving ``create_app``) and the Figshare
emulator (served by this script, with an injected latency standing in for the network):

* hot: one query whose upstream answers are cached, asked ``--sequential`` times by one client
  and ``--requests`` times by ``--concurrency`` clients, with the ``memory://``, ``redis://`` and
  ``none://`` backends (none:// still merges concurrent identical requests: single-flight);
* stampede: ``--stampede`` identical cold queries at once, and how many upstream requests they
  cause, with one gateway process and with two sharing the cache.

Redis is the one at 127.0.0.1:6379 (db 15, a namespace of the run's own, removed afterwards).
Every wait is bounded; with the defaults the whole run takes about a minute and a half.

    python bench/cache_bench.py [--requests 3000] [--concurrency 32] [--sequential 200]
                                [--stampede 500] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.emulators.figshare import build_figshare_emulator  # noqa: E402
from gateway.emulators.recorder import EmulatorApp  # noqa: E402

REDIS = "redis://127.0.0.1:6379/15"
START_S = 30.0  # bound on a gateway process's start-up
RUN_S = 120.0  # bound on one measurement

# A chart and its total over a closed window: two upstream requests, cached for 24 h.
HOT_QUERY = """{ figshare { article(id: "766364") {
  views(startDate: "2025-01-01", endDate: "2025-12-31") { total series(period: MONTH) { start count } }
} } }"""
# The stampede asks for one total; each run uses another article so it starts cold.
COLD_QUERY = '{ figshare { article(id: "%d") { views { total } } } }'


# What ``stats-gateway serve`` runs, without the access log (it would be most of the work measured).
SERVE = """
import uvicorn
from gateway.app import create_app
from gateway.settings import Settings
uvicorn.run(create_app(Settings.from_env()), host="127.0.0.1", port=0, log_level="info", access_log=False)
"""


class Gateway:
    """The gateway in a process of its own, on a port it picks; ready when uvicorn says where."""

    def __init__(self, env: dict[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE],
            cwd=ROOT / "bench",
            env={**clean, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""
        self._found = threading.Event()
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line.rstrip())
            if not self.url and (m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)):
                self.url = m.group(1)
                self._found.set()
        self._found.set()

    def ready(self) -> Gateway:
        if not self._found.wait(START_S) or not self.url:
            self.stop()
            raise SystemExit("a gateway process did not start:\n" + "\n".join(self._lines[-20:]))
        return self

    def cpu_seconds(self) -> float | None:
        """CPU time the process has used (Linux), to tell its cost from the load generator's."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def gateways(upstream_url: str, cache_url: str, count: int, secret: str) -> Iterator[list[Gateway]]:
    env = {
        "GATEWAY_ERAS_URL": upstream_url,  # not asked by these queries
        "GATEWAY_FIGSHARE_URL": upstream_url,
        "GATEWAY_CACHE_URL": cache_url,
        "GATEWAY_CACHE_SECRET": secret,
    }
    started = [Gateway(env) for _ in range(count)]
    try:
        yield [g.ready() for g in started]
    finally:
        for g in started:
            g.stop()


@dataclass
class Throughput:
    requests: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float | None  # used by the gateway process meanwhile
    upstream: int  # requests the emulator received meanwhile

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post(client: httpx.AsyncClient, url: str, query: str, trace: bool = False) -> dict[str, Any]:
    headers = {"X-Stats-Trace": "1"} if trace else {}
    response = await client.post(f"{url}/graphql", json={"query": query}, headers=headers)
    result: dict[str, Any] = response.json()
    if response.status_code != 200 or result.get("errors"):
        raise SystemExit(f"unexpected answer: {response.status_code} {response.text[:300]}")
    return result


async def hot(
    url: str, requests: int, concurrency: int, gateway: Gateway, emulator: EmulatorApp
) -> Throughput:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as client:
        for _ in range(50):  # warm: fill the cache, open the connections
            await post(client, url, HOT_QUERY)
        emulator.log.clear()
        cpu_before = gateway.cpu_seconds()
        latencies: list[float] = []
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                began = time.perf_counter()
                await post(client, url, HOT_QUERY)
                latencies.append((time.perf_counter() - began) * 1000)

        began = time.perf_counter()
        async with asyncio.timeout(RUN_S):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
        cpu_after = gateway.cpu_seconds()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return Throughput(requests, seconds, latencies, cpu, len(emulator.log))


async def stampede(urls: list[str], count: int, article: int) -> Counter[str]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    query = COLD_QUERY % article
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        async with asyncio.timeout(RUN_S):
            results = await asyncio.gather(
                *(post(client, urls[i % len(urls)], query, trace=True) for i in range(count))
            )
    return Counter(r["cache"] for result in results for r in result["extensions"]["statsTrace"])


def drop_namespace(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="hot: requests per backend")
    parser.add_argument("--concurrency", type=int, default=32, help="hot: clients at once")
    parser.add_argument("--sequential", type=int, default=200, help="hot: requests by one client")
    parser.add_argument("--stampede", type=int, default=500, help="cold: identical queries at once")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="upstream latency injected in the emulator (s)"
    )
    args = parser.parse_args()
    bounded = (
        1 <= args.requests <= 100_000
        and 1 <= args.sequential <= 10_000
        and 1 <= args.concurrency <= 512
        and 1 <= args.stampede <= 2000
    )
    if not bounded:
        raise SystemExit("--requests, --sequential, --concurrency or --stampede out of bounds")

    redis.Redis.from_url(REDIS, socket_timeout=2).ping()
    namespace = f"bench-{secrets.token_hex(4)}"
    secret = secrets.token_hex(16)
    emulator: EmulatorApp = build_figshare_emulator()
    server = emulator.serve()
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"upstream latency {args.latency * 1000:.0f} ms\n"
    )
    try:
        emulator.faults.inject("/", delay_s=args.latency)
        print("## Hot cached query (after 50 warm-up requests)\n")
        print(
            "| backend | clients at once | requests | requests/s | p50 ms | p99 ms "
            "| gateway CPU ms/request | upstream requests |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, url in (
            ("none://", "none://"),
            ("memory://", "memory://"),
            ("redis://", f"{REDIS}?namespace={namespace}-hot"),
        ):
            for clients, requests in ((1, args.sequential), (args.concurrency, args.requests)):
                with gateways(server.url, url, 1, secret) as (gateway,):
                    result = asyncio.run(hot(gateway.url, requests, clients, gateway, emulator))
                cpu = "n/a" if result.cpu_s is None else f"{result.cpu_s * 1000 / requests:.2f}"
                print(
                    f"| {name} | {clients} | {requests} | {result.per_second:,.0f} "
                    f"| {statistics.median(result.latencies_ms):.1f} | {result.quantile(0.99):.1f} "
                    f"| {cpu} | {result.upstream} |"
                )

        emulator.faults.clear()
        emulator.faults.inject("/", delay_s=max(args.latency, 0.3))  # so that the queries overlap
        print(f"\n## Cold stampede: {args.stampede} identical queries at once\n")
        print("| backend | gateway processes | upstream requests | miss | coalesced | hit |")
        print("|---|---:|---:|---:|---:|---:|")
        article = 766364
        for name, url, processes in (
            ("none://", "none://", 1),
            ("memory://", "memory://", 1),
            ("redis://", f"{REDIS}?namespace={namespace}-cold1", 1),
            ("memory://", "memory://", 2),
            ("redis://", f"{REDIS}?namespace={namespace}-cold2", 2),
        ):
            article += 1
            with gateways(server.url, url, processes, secret) as started:
                emulator.log.clear()
                outcomes = asyncio.run(stampede([g.url for g in started], args.stampede, article))
            print(
                f"| {name} | {processes} | {len(emulator.log)} | {outcomes['miss']} "
                f"| {outcomes['coalesced']} | {outcomes['hit']} |"
            )
    finally:
        server.stop()
        for suffix in ("hot", "cold1", "cold2"):
            drop_namespace(f"{namespace}-{suffix}")


if __name__ == "__main__":
    main()
