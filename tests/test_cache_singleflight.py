"""Single-flight: identical cold requests reach the upstream once, in one process and across several.

The upstream is made slow (injected latency) so that the concurrent requests overlap; the proof
is the emulator's own count of the requests it received.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.cache import MemoryCache, RedisBackedCache
from gateway.errors import NotFound
from gateway.upstream.calls import CallLog, UpstreamRequest
from gateway.upstream.client import Upstream
from tests.cache_support import GatewayProcess, RedisSpace
from tests.conftest import GatewayFactory
from tests.upstream_support import close, data_source, make_upstream

pytest_plugins = ("tests.cache_fixtures",)

ARTICLE_TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
TOTAL_PATH = "/total/views/article/766364"
LATENCY_S = 0.3


async def fire(urls: list[str], count: int) -> list[dict[str, Any]]:
    """``count`` identical queries at once, spread over ``urls`` in turn, with the trace on."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as client:

        async def one(i: int) -> dict[str, Any]:
            response = await client.post(
                f"{urls[i % len(urls)]}/graphql",
                json={"query": ARTICLE_TOTAL},
                headers={"X-Stats-Trace": "1"},
            )
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            assert not result.get("errors"), result["errors"]
            return result

        return await asyncio.gather(*(one(i) for i in range(count)))


def cache_outcomes(results: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["cache"] for result in results for r in result["extensions"]["statsTrace"])


def totals(results: list[dict[str, Any]]) -> set[int]:
    return {result["data"]["figshare"]["article"]["views"]["total"] for result in results}


async def test_concurrent_cold_requests_make_one_upstream_request_in_a_process(
    make_gateway: GatewayFactory, figshare: Any, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)
    figshare.faults.inject(TOTAL_PATH, delay_s=LATENCY_S)
    results = await fire([gateway.url], 50)
    assert len(figshare.log) == 1
    assert len(totals(results)) == 1
    outcomes = cache_outcomes(results)
    assert outcomes["miss"] == 1
    assert outcomes["miss"] + outcomes["coalesced"] + outcomes["hit"] == 50


async def one_upstream_request_across_processes(
    gateway_processes: Callable[..., list[GatewayProcess]],
    figshare: Any,
    redis_space: RedisSpace,
    **settings: str,
) -> None:
    one, two = gateway_processes(redis_space.replica_env(figshare.url, **settings), count=2)
    figshare.faults.inject(TOTAL_PATH, delay_s=LATENCY_S)

    results = await fire([one.url, two.url], 300)

    assert len(figshare.log) == 1, (one.output(), two.output())
    assert len(totals(results)) == 1
    outcomes = cache_outcomes(results)
    assert outcomes["miss"] == 1
    assert outcomes["miss"] + outcomes["coalesced"] + outcomes["hit"] == 300

    # A second, later round is answered from Redis by both processes.
    figshare.faults.clear()
    again = await fire([one.url, two.url], 10)
    assert cache_outcomes(again) == Counter({"hit": 10})
    assert len(figshare.log) == 1


@pytest.mark.redis
async def test_concurrent_cold_requests_make_one_upstream_request_across_processes(
    gateway_processes: Callable[..., list[GatewayProcess]], figshare: Any, redis_space: RedisSpace
) -> None:
    await one_upstream_request_across_processes(gateway_processes, figshare, redis_space)


@pytest.fixture
def cpu_busy_loops() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes that spin on the CPU for the test's duration, so the gateways' event loops
    are starved now and then (the machine's cores are shared with them)."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield loops
    for loop in loops:
        loop.kill()
        loop.wait(timeout=10)


@pytest.mark.redis
async def test_concurrent_cold_requests_make_one_upstream_request_across_processes_under_cpu_load(
    gateway_processes: Callable[..., list[GatewayProcess]],
    figshare: Any,
    redis_space: RedisSpace,
    cpu_busy_loops: list[subprocess.Popen[bytes]],
) -> None:
    """A slow event loop is not a Redis outage: the processes keep coordinating through Redis.

    Each Redis operation is given 0.2 s here rather than the default 1 s, so that this machine's
    starvation outlasts it at every run: judged by the wall clock, the processes then declare
    Redis unavailable and fetch once each (2 upstream requests, 5 runs of 5).
    """
    await one_upstream_request_across_processes(
        gateway_processes, figshare, redis_space, GATEWAY_CACHE_OP_TIMEOUT_S="0.2"
    )
    assert all(loop.poll() is None for loop in cpu_busy_loops)  # the load lasted the whole test


# ------------------------------------------------------------------ the lease, step by step
#
# Two upstream clients on two Redis connections stand for two gateway processes; their HTTP is
# mocked so the test decides when an answer arrives.


def figshare_client(
    redis_url: str, handler: Callable[[httpx.Request], Any], lock_wait_s: float = 30
) -> Upstream:
    return make_upstream("FIGSHARE", handler, cache=RedisBackedCache(redis_url), lock_wait_s=lock_wait_s)


async def fetch(upstream: Upstream, request: UpstreamRequest, calls: CallLog | None = None) -> Any:
    """One operation's fetch of ``request`` through ``upstream``."""
    return await data_source(upstream, calls).fetch(request)


TOTALS = UpstreamRequest("GET", TOTAL_PATH)


@pytest.mark.redis
async def test_a_process_waits_for_the_lease_holder_and_reads_its_answer(redis_space: RedisSpace) -> None:
    first_sent, second_waits = asyncio.Event(), asyncio.Event()
    sent: list[str] = []

    async def first_upstream(request: httpx.Request) -> httpx.Response:
        sent.append("first")
        first_sent.set()
        await second_waits.wait()  # answer only once the other process is waiting
        return httpx.Response(200, json={"totals": 5})

    def second_upstream(request: httpx.Request) -> httpx.Response:
        sent.append("second")
        return httpx.Response(200, json={"totals": 6})

    first = figshare_client(redis_space.url, first_upstream)
    second = figshare_client(redis_space.url, second_upstream)
    original_wait = second.cache.wait

    async def wait(key: str, within_s: float) -> bool:
        second_waits.set()
        return await original_wait(key, within_s)

    second.cache.wait = wait  # type: ignore[method-assign]
    try:
        first_calls, second_calls = CallLog(), CallLog()
        leading = asyncio.create_task(fetch(first, TOTALS, first_calls))
        # The second process asks once the first holds the lease (it has sent its request).
        await first_sent.wait()
        answer = await fetch(second, TOTALS, second_calls)
        assert answer == {"totals": 5}
        assert await leading == {"totals": 5}
    finally:
        await close(first, second)
    assert sent == ["first"]
    assert [r.outcome for r in first_calls.records] == ["miss"]
    assert [r.outcome for r in second_calls.records] == ["coalesced"]


class HeldUpstream:
    """An upstream that notes each request's path and answers only once ``answer_now`` is set."""

    def __init__(self, status: int, answer: Any) -> None:
        self.asked, self.answer_now = asyncio.Event(), asyncio.Event()
        self.sent: list[str] = []
        self.status, self.answer = status, answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.url.path)
        self.asked.set()
        await self.answer_now.wait()
        return httpx.Response(self.status, json=self.answer)


async def test_a_caller_going_away_does_not_cancel_the_fetch_for_the_others() -> None:
    upstream = HeldUpstream(200, {"totals": 3})
    client = make_upstream("FIGSHARE", upstream, cache=MemoryCache(10))
    try:
        first = asyncio.create_task(fetch(client, TOTALS))  # the one that leads
        second_calls = CallLog()
        second = asyncio.create_task(fetch(client, TOTALS, second_calls))
        # Both callers are waiting on the shared request by the time it reaches the upstream.
        await upstream.asked.wait()
        first.cancel()  # the first caller's client disconnected
        upstream.answer_now.set()
        assert await second == {"totals": 3}
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await close(client)
    assert upstream.sent == [TOTAL_PATH]
    assert [r.outcome for r in second_calls.records] == ["coalesced"]


async def test_a_detached_caller_leads_in_its_own_task_and_the_others_share_its_answer() -> None:
    upstream = HeldUpstream(200, {"totals": 4})
    client = make_upstream("FIGSHARE", upstream, cache=MemoryCache(10))
    try:
        # As a DataLoader's batch asks: in a task no client's request owns.
        leading_calls, staying_calls = CallLog(), CallLog()
        leading = asyncio.create_task(data_source(client, leading_calls).fetch_all([TOTALS], detached=True))
        staying = asyncio.create_task(fetch(client, TOTALS, staying_calls))
        leaving = asyncio.create_task(fetch(client, TOTALS))
        # All three are waiting on the one request by the time it reaches the upstream.
        await upstream.asked.wait()
        leaving.cancel()  # a follower's client went away: the others are not concerned
        upstream.answer_now.set()
        assert await leading == [{"totals": 4}]
        assert await staying == {"totals": 4}
        with pytest.raises(asyncio.CancelledError):
            await leaving
    finally:
        await close(client)
    assert upstream.sent == [TOTAL_PATH]
    assert [r.outcome for r in leading_calls.records] == ["miss"]
    assert [r.outcome for r in staying_calls.records] == ["coalesced"]


async def test_a_detached_leaders_failure_reaches_the_callers_sharing_it() -> None:
    upstream = HeldUpstream(404, {"message": "no such article"})
    client = make_upstream("FIGSHARE", upstream, cache=MemoryCache(10))
    try:
        leading = asyncio.create_task(
            data_source(client).fetch_all([TOTALS], detached=True, return_exceptions=True)
        )
        following = asyncio.create_task(fetch(client, TOTALS))
        await upstream.asked.wait()
        upstream.answer_now.set()
        [failure] = await leading
        assert isinstance(failure, NotFound)
        with pytest.raises(NotFound):
            await following
    finally:
        await close(client)


@pytest.mark.redis
async def test_a_dead_lease_holder_delays_the_others_only_for_the_bounded_wait(
    redis_space: RedisSpace,
) -> None:
    sent: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"totals": 9})

    survivor = figshare_client(redis_space.url, upstream, lock_wait_s=0.2)
    # A process that took the lease and died: the lease stays until it expires (here: 60 s).
    dead = RedisBackedCache(redis_space.url)
    try:
        assert await dead.acquire(survivor.cache_key(TOTALS), hold_for=60) is not None
        await dead.close()
        calls = CallLog()
        assert await fetch(survivor, TOTALS, calls) == {"totals": 9}
    finally:
        await close(survivor)
    assert sent == [TOTAL_PATH]
    assert [r.outcome for r in calls.records] == ["miss"]
