"""Cache trouble never fails a query: Redis down, slow or full sends the gateway to the upstream
(or to what the process itself holds), is logged once per incident, and shows in /readyz until it
is over. A slow event loop is no Redis trouble (tests/test_cache_singleflight.py holds beside CPU
load).

"Down" is a port nothing listens on, "slow" a socket that accepts connections and never answers,
"full" a redis-server of the test's own with no memory left to store anything.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.cache import CacheTrouble, Entry, RedisBackedCache
from gateway.emulators import eras_data
from tests.cache_support import PrivateRedis, RedisSpace, free_port
from tests.conftest import Gateway, GatewayFactory, data_of

pytest_plugins = ("tests.cache_fixtures",)
pytestmark = pytest.mark.redis

ARTICLE_TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'


def article_total(article: int) -> str:
    return ARTICLE_TOTAL.replace("766364", str(article))


USER_TOTAL = f'{{ zooniverse {{ user(id: "{eras_data.VOLUNTEER_ID}") {{ classifications {{ total }} }} }} }}'


@pytest.fixture
def warnings_of_the_cache(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.WARNING, logger="gateway.cache")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "gateway.cache"]


@pytest.fixture
def silent_socket() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and never answered: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def readiness(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    response = gateway.http.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def cache_readiness(gateway: Gateway) -> tuple[int, str, str]:
    """The status code, status and cache of /readyz (its body says more, about the upstreams)."""
    status, body = readiness(gateway)
    return status, body["status"], body["cache"]


def test_redis_down_sends_queries_upstream_logs_once_and_shows_in_readyz(
    make_gateway: GatewayFactory, figshare: Any, warnings_of_the_cache: Callable[[], list[str]]
) -> None:
    gateway = make_gateway(cache_url=f"redis://127.0.0.1:{free_port()}/0")
    answers = {
        data_of(gateway.query(ARTICLE_TOTAL))["figshare"]["article"]["views"]["total"] for _ in range(3)
    }
    assert len(answers) == 1
    data_of(gateway.query(USER_TOTAL, Authorization=f"Bearer {eras_data.VOLUNTEER_TOKEN}"))
    # Nothing failed; the first answer was kept by the process itself and served the next two.
    assert len(figshare.log) == 1

    status, body = readiness(gateway)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["cache"] == "redis"
    assert "ConnectionError" in body["reason"]

    (warning,) = warnings_of_the_cache()
    assert warning.startswith("cache redis unavailable, going to the upstreams directly")


def test_redis_slow_sends_queries_upstream(
    make_gateway: GatewayFactory,
    figshare: Any,
    silent_socket: int,
    warnings_of_the_cache: Callable[[], list[str]],
) -> None:
    gateway = make_gateway(cache_url=f"redis://127.0.0.1:{silent_socket}/0")
    for article in (766364, 766365):
        data_of(gateway.query(article_total(article)))
    assert len(figshare.log) == 2
    status, body = readiness(gateway)
    assert status == 503
    assert "Timeout" in body["reason"]
    assert len(warnings_of_the_cache()) == 1


def test_redis_full_sends_queries_upstream_until_it_has_room(
    make_gateway: GatewayFactory,
    figshare: Any,
    private_redis: Callable[..., PrivateRedis],
    warnings_of_the_cache: Callable[[], list[str]],
) -> None:
    server = private_redis()
    admin = server.client()
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")  # nothing more fits
        gateway = make_gateway(cache_url=server.url)
        for article in (766364, 766365):
            data_of(gateway.query(article_total(article)))
        assert len(figshare.log) == 2  # answered, though nothing could be kept in Redis
        status, body = readiness(gateway)
        assert status == 503
        assert "OutOfMemoryError" in body["reason"]
        assert len(warnings_of_the_cache()) == 1

        admin.config_set("maxmemory", "0")  # room again
        assert cache_readiness(gateway) == (200, "ready", "redis")
        assert warnings_of_the_cache()[1:] == ["cache redis answers again"]
        for _ in range(2):
            data_of(gateway.query(article_total(766366)))
        assert len(figshare.log) == 3  # kept, then read
        assert any(b":lease:" not in key for key in admin.keys("*v2:FIGSHARE:*"))
    finally:
        admin.close()


def test_the_cache_is_used_again_once_redis_comes_up(
    make_gateway: GatewayFactory,
    figshare: Any,
    private_redis: Callable[..., PrivateRedis],
    warnings_of_the_cache: Callable[[], list[str]],
) -> None:
    port = free_port()
    gateway = make_gateway(cache_url=f"redis://127.0.0.1:{port}/0")
    data_of(gateway.query(ARTICLE_TOTAL))
    assert readiness(gateway)[0] == 503

    server = private_redis(port)
    assert cache_readiness(gateway) == (200, "ready", "redis")
    for _ in range(3):
        data_of(gateway.query(article_total(766365)))
    assert len(figshare.log) == 2  # one before Redis came up, one to fill it
    admin = server.client()
    try:
        assert admin.keys("*v2:FIGSHARE:*")  # filled
    finally:
        admin.close()
    assert len(warnings_of_the_cache()) == 2  # the incident, and its end


def test_redis_going_away_mid_life_does_not_fail_queries(
    make_gateway: GatewayFactory,
    figshare: Any,
    private_redis: Callable[..., PrivateRedis],
    warnings_of_the_cache: Callable[[], list[str]],
) -> None:
    server = private_redis()
    gateway = make_gateway(cache_url=server.url)
    for _ in range(2):
        data_of(gateway.query(ARTICLE_TOTAL))
    assert len(figshare.log) == 1
    assert readiness(gateway)[0] == 200

    server.stop()
    for article in (766365, 766366, 766367):
        data_of(gateway.query(article_total(article)))
    assert len(figshare.log) == 4  # each asked upstream
    data_of(gateway.query(ARTICLE_TOTAL))  # answered too, from this process's copy or upstream
    assert readiness(gateway)[0] == 503
    assert len(warnings_of_the_cache()) == 1


def test_while_redis_is_down_the_process_keeps_serving_what_it_holds(
    make_gateway: GatewayFactory,
    figshare: Any,
    private_redis: Callable[..., PrivateRedis],
    warnings_of_the_cache: Callable[[], list[str]],
) -> None:
    """The hit rate outlasts the outage: answers read before it and answers fetched during it are
    served from the process's own copy of the cache."""
    server = private_redis()
    # Whole responses are not kept, so each query shows its upstream call's cache outcome.
    gateway = make_gateway(cache_url=server.url, response_cache=False)
    before, during = (766364, 766365), (766366, 766367)
    for article in before:
        data_of(gateway.query(article_total(article)))
    assert len(figshare.log) == 2

    server.stop()
    outcomes = []
    for _ in range(2):
        for article in before + during:
            result = gateway.post(article_total(article), x_stats_trace="1").json()
            data_of(result)
            outcomes += [call["cache"] for call in result["extensions"]["statsTrace"]]

    # 8 queries, 2 upstream requests (the articles first asked during the outage): 6 hits.
    assert len(figshare.log) == 4
    assert outcomes == ["hit", "hit", "miss", "miss", "hit", "hit", "hit", "hit"]
    assert cache_readiness(gateway)[0] == 503
    assert len(warnings_of_the_cache()) == 1


def starve(seconds: float) -> None:
    """Hold the event loop (and the CPU) for ``seconds``, as a busy machine or process does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_a_starved_event_loop_is_no_redis_trouble(redis_space: RedisSpace) -> None:
    """Redis answers at once, but the loop gets to its answers only after 0.5 s: that is no timeout
    of a 0.2 s operation (only the loop was late), whereas a Redis that does not answer is one."""
    writer = RedisBackedCache(redis_space.url)
    try:
        await writer.set("k", Entry(b"v", writer.clock(), 60), keep_for=60)
    finally:
        await writer.close()
    cache = RedisBackedCache(redis_space.url, op_timeout_s=0.2)
    try:
        # The read starts connecting (a few round trips to Redis), then the loop is held.
        reading = asyncio.create_task(cache.get("k"))
        asyncio.get_running_loop().call_soon(starve, 0.5)
        entry = await reading
        assert entry is not None
        assert entry.value == b"v"
    finally:
        await cache.close()


async def test_a_redis_that_does_not_answer_is_trouble_beside_a_starved_loop(silent_socket: int) -> None:
    cache = RedisBackedCache(f"redis://127.0.0.1:{silent_socket}/0", op_timeout_s=0.2)
    try:
        reading = asyncio.create_task(cache.get("k"))
        asyncio.get_running_loop().call_soon(starve, 0.3)
        with pytest.raises(CacheTrouble, match="TimeoutError"):
            await reading
    finally:
        await cache.close()
