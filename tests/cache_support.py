"""Helpers for the cache tests: Redis namespaces, a settable clock, gateways in other processes.

Loaded by the cache test modules with ``pytest_plugins``. Redis tests are never skipped: when the
server at 127.0.0.1:6379 does not answer, they fail and say how to start it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.app import create_app
from gateway.emulators.server import LoopbackServer
from gateway.settings import Settings
from tests.conftest import Gateway, Upstream, fixed_today

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 15
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
SECRET = "test-secret"
# Bounds every wait for another process: generous, as they only matter when something is broken.
PROCESS_START_S = 30.0

ARTICLE_TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
TOTAL_PATH = "/total/views/article/766364"


class FakeClock:
    """The cache's clock, moved by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def redis_client() -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)


def require_redis() -> None:
    """Fail (never skip) with the command to run when the test Redis does not answer."""
    client = redis_client()
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis at {REDIS_HOST}:{REDIS_PORT} does not answer ({type(exc).__name__}); the "
            f"cache tests need it and are never skipped. Start it with: {START_REDIS}",
            pytrace=False,
        )
    finally:
        client.close()


def namespace_keys(namespace: str) -> list[bytes]:
    client = redis_client()
    try:
        return sorted(client.scan_iter(match=f"{namespace}:*", count=1000))
    finally:
        client.close()


def drop_namespace(namespace: str) -> None:
    client = redis_client()
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisSpace:
    """A namespace of its own in the test Redis db, removed after the test."""

    def __init__(self) -> None:
        self.namespace = f"test-{secrets.token_hex(6)}"
        self.url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}?namespace={self.namespace}"

    def keys(self) -> list[bytes]:
        return namespace_keys(self.namespace)

    def items(self) -> dict[bytes, bytes]:
        """Every key of the namespace with its value as stored (entries and leases are strings)."""
        client = redis_client()
        try:
            return {key: client.get(key) or b"" for key in self.keys()}
        finally:
            client.close()


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    require_redis()
    space = RedisSpace()
    yield space
    drop_namespace(space.namespace)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClockedFactory = Callable[..., Gateway]


@pytest.fixture
def make_clocked_gateway(eras: Upstream, figshare: Upstream) -> Iterator[ClockedFactory]:
    """Like ``make_gateway``, with the cache clock given: ``make(clock, **settings_overrides)``."""
    started: list[Gateway] = []

    def make(clock: Callable[[], float], **overrides: Any) -> Gateway:
        settings = Settings(
            eras_url=eras.url,
            figshare_url=figshare.url,
            cache_url=overrides.pop("cache_url", "memory://"),
            cache_secret=SECRET,
            **overrides,
        )
        gateway = Gateway(LoopbackServer(create_app(settings, today=fixed_today, clock=clock)).start())
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.close()


def free_port() -> int:
    """A loopback port nothing listens on (for a moment: good enough for a server we start next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _LineWatch:
    """Reads a child's output in a thread (so its pipe never fills) and signals a wanted line."""

    def __init__(self, stream: Any, pattern: str) -> None:
        self.lines: list[str] = []
        self.match: re.Match[str] | None = None
        self.seen = threading.Event()
        self._pattern = re.compile(pattern)
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip())
            if self.match is None and (found := self._pattern.search(line)):
                self.match = found
                self.seen.set()
        self.seen.set()  # the stream ended: whoever waits should stop waiting

    def tail(self) -> str:
        return "\n".join(self.lines[-30:])


class GatewayProcess:
    """``python -m gateway serve`` in a child process, on a port the child picks."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=workdir,  # no stray .env file is read
            env={**clean, **env, "GATEWAY_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._watch = _LineWatch(self.process.stderr, r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
        if not self._watch.seen.wait(PROCESS_START_S) or self._watch.match is None:
            self.stop()
            pytest.fail(f"the gateway process did not start:\n{self._watch.tail()}", pytrace=False)
        self.url = f"http://127.0.0.1:{self._watch.match.group(1)}"

    def output(self) -> str:
        return self._watch.tail()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def gateway_processes(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(env: dict[str, str]) -> GatewayProcess:
        child = GatewayProcess(env, tmp_path)
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port: it may be filled or stopped."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; the cache trouble tests need it.", pytrace=False)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watch = _LineWatch(self.process.stdout, r"Ready to accept connections")
        if not watch.seen.wait(PROCESS_START_S) or watch.match is None:
            self.stop()
            pytest.fail(f"redis-server did not start:\n{watch.tail()}", pytrace=False)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


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
