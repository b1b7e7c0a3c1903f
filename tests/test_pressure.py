"""One view of the pressure put on an upstream, shared by the replicas of one Redis cache.

After a 429 with ``Retry-After``, no replica sends that upstream anything until then (each learns
of the pause by Redis pub/sub, or reads it when it starts). An optional rate per upstream
(GATEWAY_ERAS_MAX_RPS, GATEWAY_FIGSHARE_MAX_RPS) is a token bucket in Redis when the cache is
shared, in the process otherwise: calls wait their turn within their deadline, or fail at once
with ``retryAfter``. The proof is the emulator's log: how many requests arrived, and when.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.cache import CacheTrouble
from gateway.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.calls import UpstreamRequest
from gateway.upstream.retry import Pressure
from tests.cache_support import RedisSpace
from tests.conftest import Gateway, GatewayFactory, codes, data_of
from tests.upstream_support import close, data_source, make_upstream

pytest_plugins = ("tests.cache_fixtures",)

TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
TOTAL_PATH = "/total/views/article/766364"
PATIENCE_S = 10.0  # bounds every wait for something another thread or replica does


def total_query(article: int) -> str:
    return TOTAL.replace("766364", str(article))


class _Heard(logging.Handler):
    def __init__(self, words: str) -> None:
        super().__init__(logging.INFO)
        self.words = words
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


@pytest.fixture
def pause_heard() -> Iterator[threading.Event]:
    """Set when a replica logs that it learnt of another replica's pause."""
    logger = logging.getLogger("gateway.upstream")
    handler, level = _Heard("was paused by another replica"), logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler.event
    logger.removeHandler(handler)
    logger.setLevel(level)


def refusal(result: dict[str, Any]) -> dict[str, Any]:
    [error] = result["errors"]
    extensions: dict[str, Any] = error["extensions"]
    assert extensions["code"] == "UPSTREAM_UNAVAILABLE"
    assert extensions["source"] == "FIGSHARE"
    return extensions


@pytest.mark.redis
def test_a_pause_after_a_429_holds_for_every_replica_sharing_redis(
    make_gateway: GatewayFactory, figshare: Any, redis_space: RedisSpace, pause_heard: threading.Event
) -> None:
    settings = {"cache_url": redis_space.url, "upstream_timeout_s": 1, "upstream_retry_backoff_s": 0.01}
    one, two = make_gateway(**settings), make_gateway(**settings)
    figshare.faults.inject(TOTAL_PATH, status=429, headers={"Retry-After": "3"}, times=1)
    # 3 s is past the 1 s deadline: not waited for, the field fails at once.
    assert refusal(one.query(TOTAL))["retryAfter"] == 3
    asked_at = figshare.log.requests[0].at

    assert pause_heard.wait(PATIENCE_S)  # the other replica got the note
    assert 1 <= refusal(two.query(total_query(766365)))["retryAfter"] <= 3
    # A replica that starts during the pause reads it before its first request.
    three = make_gateway(**settings)
    assert 1 <= refusal(three.query(total_query(766366)))["retryAfter"] <= 3
    assert len(figshare.log) == 1

    # Then the pause ends, and the replica asks again (polled: every try before sends nothing).
    deadline = time.monotonic() + PATIENCE_S
    while codes(result := two.query(total_query(766365))) and time.monotonic() < deadline:
        time.sleep(0.1)
    data_of(result)
    assert len(figshare.log) == 2
    assert figshare.log.requests[1].at >= asked_at + 3


async def fire(gateways: list[Gateway], articles: list[int]) -> list[dict[str, Any]]:
    """One query per article, all at once, spread over ``gateways`` in turn."""
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:

        async def one(i: int, article: int) -> dict[str, Any]:
            url = f"{gateways[i % len(gateways)].url}/graphql"
            response = await client.post(url, json={"query": total_query(article)})
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        return await asyncio.gather(*(one(i, article) for i, article in enumerate(articles)))


@pytest.mark.parametrize(
    ("backend", "replicas"), [("memory", 1), pytest.param("redis", 2, marks=pytest.mark.redis)]
)
async def test_calls_wait_their_turn_under_the_rate_limit_or_fail_with_retry_after(
    make_gateway: GatewayFactory, figshare: Any, request: pytest.FixtureRequest, backend: str, replicas: int
) -> None:
    """One request per 2 s, a 2.5 s deadline, four calls at once: the first goes at once, the second
    waits its turn (2 s), the third and fourth would come too late and fail at once. With Redis the
    bucket is shared: two replicas together still send two requests."""
    cache_url = "memory://" if backend == "memory" else request.getfixturevalue("redis_space").url
    gateways = [
        make_gateway(cache_url=cache_url, figshare_max_rps=0.5, upstream_timeout_s=2.5)
        for _ in range(replicas)
    ]
    results = await fire(gateways, [766364, 766365, 766366, 766367])

    answered = [r for r in results if not r.get("errors")]
    refused = [refusal(r) for r in results if r.get("errors")]
    assert len(answered) == 2
    assert len(refused) == 2
    assert all(1 <= error["retryAfter"] <= 6 for error in refused)
    first, second = figshare.log.requests
    assert second.at - first.at >= 1.8  # 2 s apart, less what the first took to arrive


async def test_a_pause_refuses_calls_without_counting_them_as_failures() -> None:
    sent: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"totals": 1})

    breaker = CircuitBreaker(failures=1, reset_s=3600)
    client = make_upstream("FIGSHARE", upstream, breaker=breaker)
    try:
        client.pressure.heard(30)
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable) as refused:
                await data_source(client).fetch(UpstreamRequest("GET", TOTAL_PATH))
            assert refused.value.extensions["retryAfter"] == 30
        assert not breaker.is_open
        assert sent == []
    finally:
        await close(client)


class _LateAdmission(Pressure):
    """Admits a call only once its deadline has passed, without letting the event loop run its
    timers meanwhile: as when the slot came from another call's timeout, handled by a busy loop
    before this call's own timer."""

    async def admit(self, deadline: float) -> None:
        await super().admit(deadline)
        while time.monotonic() < deadline:
            pass  # the busy event loop itself, not a wait for something


async def test_a_call_admitted_past_its_deadline_sends_nothing() -> None:
    sent: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"totals": 1})

    client = make_upstream("FIGSHARE", upstream, timeout_s=0.05)
    client.pressure = _LateAdmission("FIGSHARE")
    try:
        with pytest.raises(UpstreamTimeout):
            await data_source(client).fetch(UpstreamRequest("GET", TOTAL_PATH))
    finally:
        await close(client)
    assert sent == []


class _TroubledBoard:
    """A board whose Redis does not answer."""

    async def announce_pause(self, source: str, seconds: float) -> None:
        raise CacheTrouble("redis pause note failed: ConnectionError")

    async def take_turn(self, source: str, interval_s: float, within_s: float) -> tuple[bool, float]:
        raise CacheTrouble("redis rate limit failed: ConnectionError")


async def test_without_redis_the_rate_limit_and_pauses_are_kept_by_the_process() -> None:
    pressure = Pressure("FIGSHARE", max_rps=0.5, board=_TroubledBoard())
    deadline = time.monotonic() + 1
    await pressure.admit(deadline)  # the first turn is now
    pressure.release()
    with pytest.raises(UpstreamUnavailable) as refused:
        await pressure.admit(deadline)  # the next is 2 s away, past the deadline
    assert refused.value.extensions["retryAfter"] == 2
    await pressure.pause(30)
    assert 29 < pressure.paused_for() <= 30
