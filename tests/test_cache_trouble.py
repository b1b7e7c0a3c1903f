"""Cache trouble never fails a query: Redis down, slow or full sends the gateway to the upstream,
is logged once per incident, and shows in /readyz until it is over.

"Down" is a port nothing listens on, "slow" a socket that accepts connections and never answers,
"full" a redis-server of the test's own with no memory left to store anything.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.emulators import eras_data
from tests.cache_support import PrivateRedis, free_port
from tests.conftest import Gateway, GatewayFactory, data_of

pytest_plugins = ("tests.cache_fixtures",)
pytestmark = pytest.mark.redis

ARTICLE_TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
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


def test_redis_down_sends_queries_upstream_logs_once_and_shows_in_readyz(
    make_gateway: GatewayFactory, figshare: Any, warnings_of_the_cache: Callable[[], list[str]]
) -> None:
    gateway = make_gateway(cache_url=f"redis://127.0.0.1:{free_port()}/0")
    answers = {
        data_of(gateway.query(ARTICLE_TOTAL))["figshare"]["article"]["views"]["total"] for _ in range(3)
    }
    assert len(answers) == 1
    data_of(gateway.query(USER_TOTAL, Authorization=f"Bearer {eras_data.VOLUNTEER_TOKEN}"))
    assert len(figshare.log) == 3  # nothing cached, nothing failed

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
    for _ in range(2):
        data_of(gateway.query(ARTICLE_TOTAL))
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
        for _ in range(2):
            data_of(gateway.query(ARTICLE_TOTAL))
        assert len(figshare.log) == 2  # answered, though nothing could be kept
        status, body = readiness(gateway)
        assert status == 503
        assert "OutOfMemoryError" in body["reason"]
        assert len(warnings_of_the_cache()) == 1

        admin.config_set("maxmemory", "0")  # room again
        assert readiness(gateway) == (200, {"status": "ready", "cache": "redis"})
        assert warnings_of_the_cache()[1:] == ["cache redis answers again"]
        for _ in range(2):
            data_of(gateway.query(ARTICLE_TOTAL))
        assert len(figshare.log) == 3  # kept, then read
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

    private_redis(port)
    assert readiness(gateway) == (200, {"status": "ready", "cache": "redis"})
    for _ in range(3):
        data_of(gateway.query(ARTICLE_TOTAL))
    assert len(figshare.log) == 2  # one before Redis came up, one to fill it
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
        data_of(gateway.query(ARTICLE_TOTAL.replace("766364", str(article))))
    assert len(figshare.log) == 4  # each asked upstream
    data_of(gateway.query(ARTICLE_TOTAL))  # answered too, from this process's copy or upstream
    assert readiness(gateway)[0] == 503
    assert len(warnings_of_the_cache()) == 1
