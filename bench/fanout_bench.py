"""Benchmark of the fan-out: one GraphQL query against the REST calls it replaces, on loopback.

A dashboard query needs ten upstream answers from ERAS and Figshare. A front end without the
gateway makes those REST calls itself, one after another (as the real clients do) or all at once;
the gateway receives one query, merges what it can and sends the rest concurrently. Both
emulators answer after ``--latency`` seconds, standing in for the network to the real services.
The gateway runs in this process with caching off (``none://``), so every query pays the upstream
latency: this measures fan-out, not the cache (see cache_bench.py for that).

    python bench/fanout_bench.py [--latency 0.05] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.app import create_app  # noqa: E402
from gateway.emulators.eras import build_eras_emulator  # noqa: E402
from gateway.emulators.eras_data import VOLUNTEER_ID, VOLUNTEER_TOKEN  # noqa: E402
from gateway.emulators.figshare import build_figshare_emulator  # noqa: E402
from gateway.emulators.server import LoopbackServer  # noqa: E402
from gateway.settings import Settings  # noqa: E402

DASHBOARD = """query Dashboard($user: ID!) {
  zooniverse {
    site: classifications { total }
    project(id: "1234") {
      classifications(startDate: "2026-01-01") { total series(period: MONTH) { start count } }
      comments(startDate: "2026-01-01") { total series(period: WEEK) { start count } }
    }
    user(id: $user) {
      classifications(startDate: "2026-11-01") {
        total timeSpent series(period: DAY) { start count timeSpent }
        projectContributions { project { id } count }
      }
    }
    userGroup(id: "42") {
      classifications { total activeUsers topContributors(limit: 5) { user { id } count } }
    }
  }
  figshare {
    article(id: "766364") {
      views { total }
      downloads { total }
      shares { total }
    }
    top(counter: VIEWS, limit: 5) { key count }
    g1: group(id: "327") { publicArticleCount }
    g2: group(id: "328") { publicArticleCount }
  }
}"""

# What a front end would call for the same page, in the order its components would.
REST_CALLS: list[tuple[str, str, dict[str, str], str | None]] = [
    ("eras", "GET", {}, "/classifications"),
    (
        "eras",
        "GET",
        {"project_id": "1234", "start_date": "2026-01-01", "period": "month"},
        "/classifications",
    ),
    ("eras", "GET", {"project_id": "1234", "start_date": "2026-01-01", "period": "week"}, "/comments"),
    (
        "eras",
        "GET",
        {"start_date": "2026-11-01", "period": "day", "time_spent": "true", "project_contributions": "true"},
        f"/classifications/users/{VOLUNTEER_ID}",
    ),
    ("eras", "GET", {"top_contributors": "5"}, "/classifications/user_groups/42"),
    ("figshare", "GET", {}, "/total/views/article/766364"),
    ("figshare", "GET", {}, "/total/downloads/article/766364"),
    ("figshare", "GET", {}, "/total/shares/article/766364"),
    ("figshare", "GET", {"count": "5"}, "/top/views/article"),
    ("figshare", "POST", {}, "/count/articles"),
]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def rest_sequential(urls: dict[str, str]) -> float:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        for call in REST_CALLS:
            await _rest(client, urls, *call)
        return time.perf_counter() - started


async def rest_concurrent(urls: dict[str, str]) -> float:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(_rest(client, urls, *call) for call in REST_CALLS))
        return time.perf_counter() - started


async def _rest(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    source: str,
    method: str,
    params: dict[str, str],
    path: str | None,
) -> None:
    headers = {"Authorization": f"Bearer {VOLUNTEER_TOKEN}"} if "users" in (path or "") else {}
    body = {"groups": [{"id": 327}, {"id": 328}]} if method == "POST" else None
    response = await client.request(
        method, f"{urls[source]}{path}", params=params, headers=headers, json=body
    )
    response.raise_for_status()


async def gateway_query(url: str) -> float:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        response = await client.post(
            f"{url}/graphql",
            json={"query": DASHBOARD, "variables": {"user": str(VOLUNTEER_ID)}},
            headers={"Authorization": f"Bearer {VOLUNTEER_TOKEN}"},
        )
        elapsed = time.perf_counter() - started
        result = response.json()
        assert "errors" not in result, result["errors"]
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each upstream answer takes")
    parser.add_argument("--rounds", type=int, default=20, help="measurements of each way (at most 200)")
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, 200))

    today = date.today()
    eras, figshare = build_eras_emulator(), build_figshare_emulator()
    for emulator in (eras, figshare):
        emulator.faults.inject("", delay_s=args.latency)
    with eras.serve() as eras_server, figshare.serve() as figshare_server:
        urls = {"eras": eras_server.url, "figshare": figshare_server.url}
        settings = Settings(eras_url=urls["eras"], figshare_url=urls["figshare"], cache_url="none://")
        with LoopbackServer(create_app(settings, today=lambda: today)) as gateway:
            asyncio.run(gateway_query(gateway.url))  # warm-up: imports, connections
            eras.log.clear()
            figshare.log.clear()
            asyncio.run(gateway_query(gateway.url))
            upstream = len(eras.log) + len(figshare.log)
            ways = {
                "REST, one call after another": lambda: asyncio.run(rest_sequential(urls)),
                "REST, all calls at once": lambda: asyncio.run(rest_concurrent(urls)),
                "gateway, one GraphQL query": lambda: asyncio.run(gateway_query(gateway.url)),
            }
            results = {name: [way() * 1000 for _ in range(rounds)] for name, way in ways.items()}

    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"{python}, upstream latency {args.latency * 1000:.0f} ms, {rounds} rounds")
    print(f"The page needs {len(REST_CALLS)} REST calls; the gateway made {upstream} upstream requests.\n")
    print("| way | client round trips | p50 ms | p90 ms | mean ms |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in results.items():
        trips = 1 if name.startswith("gateway") else len(REST_CALLS)
        print(
            f"| {name} | {trips} | {statistics.median(samples):.1f} | {percentile(samples, 0.9):.1f} "
            f"| {statistics.fmean(samples):.1f} |"
        )


if __name__ == "__main__":
    main()
