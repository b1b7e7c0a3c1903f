"""Fixtures of the cache tests, loaded with ``pytest_plugins = ("tests.cache_fixtures",)``.

Kept apart from ``cache_support`` (plain helpers the tests import) so pytest can load this module
as a plugin before anything imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cache_support import (
    ClockedFactory,
    GatewayProcess,
    PrivateRedis,
    RedisSpace,
    drop_namespace,
    require_redis,
)
from tests.conftest import Gateway, GatewayFactory


@pytest.fixture
def redis_space(request: pytest.FixtureRequest) -> Iterator[RedisSpace]:
    """A namespace of the test's own in Redis db 15; fails (never skips) without Redis."""
    if request.node.get_closest_marker("redis") is None:
        pytest.fail("a test that uses Redis is marked @pytest.mark.redis", pytrace=False)
    require_redis()
    space = RedisSpace()
    yield space
    drop_namespace(space.namespace)


@pytest.fixture
def make_clocked_gateway(make_gateway: GatewayFactory) -> ClockedFactory:
    """Like ``make_gateway``, with the cache clock given and memory:// by default."""

    def make(clock: Callable[[], float], **overrides: Any) -> Gateway:
        overrides.setdefault("cache_url", "memory://")
        return make_gateway(clock=clock, **overrides)

    return make


@pytest.fixture
def gateway_processes(tmp_path: Path) -> Iterator[Callable[..., list[GatewayProcess]]]:
    """``start(env, count)``: that many ``python -m gateway serve`` processes, started together."""
    started: list[GatewayProcess] = []

    def start(env: dict[str, str], count: int = 1) -> list[GatewayProcess]:
        children = [GatewayProcess(env, tmp_path) for _ in range(count)]
        started.extend(children)
        return [child.ready() for child in children]

    yield start
    for child in started:
        child.stop()


@pytest.fixture
def private_redis() -> Iterator[Callable[..., PrivateRedis]]:
    started: list[PrivateRedis] = []

    def start(port: int | None = None) -> PrivateRedis:
        server = PrivateRedis(port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache_url(request: pytest.FixtureRequest) -> str:
    """Each caching backend in turn: ``memory://``, then Redis (a namespace of the test's own)."""
    if request.param == "memory":
        return "memory://"
    space: RedisSpace = request.getfixturevalue("redis_space")
    return space.url
