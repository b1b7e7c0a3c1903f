"""Helpers for the cache tests: Redis namespaces, a settable clock, gateways in other processes.

Plain code the cache tests import; their fixtures are in ``cache_fixtures``. Redis tests are never
skipped: when the server at 127.0.0.1:6379 does not answer, they fail and say how to start it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

import gateway
from tests.conftest import Gateway

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 15
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
SECRET = "test-secret"
# Bounds every wait for another process: generous, as they only matter when something is broken.
PROCESS_START_S = 30.0
SOURCE_ROOT = Path(gateway.__file__).resolve().parent.parent


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


@contextlib.asynccontextmanager
async def redis_monitor() -> AsyncIterator[Any]:
    """Redis's MONITOR stream: every command the server runs, to wait for one without polling."""
    client = redis.asyncio.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        async with client.monitor() as monitor:
            yield monitor
    finally:
        await client.aclose()


async def until_command(monitor: Any, *words: str, times: int = 1) -> None:
    """Return once the server has run ``times`` commands holding every one of ``words`` (bounded)."""
    async with asyncio.timeout(PROCESS_START_S):
        async for info in monitor.listen():
            if all(word in info["command"] for word in words):
                times -= 1
                if times == 0:
                    return


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

    def replica_env(self, upstream_url: str, **settings: str) -> dict[str, str]:
        """The environment of gateway processes that share this namespace, both upstreams at
        ``upstream_url``, plus ``GATEWAY_*`` ``settings``."""
        return {
            "GATEWAY_ERAS_URL": upstream_url,
            "GATEWAY_FIGSHARE_URL": upstream_url,
            "GATEWAY_CACHE_URL": self.url,
            "GATEWAY_CACHE_SECRET": SECRET,
            **settings,
        }


ClockedFactory = Callable[..., Gateway]


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
        self._stream = stream
        self._pattern = re.compile(pattern)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip())
            if self.match is None and (found := self._pattern.search(line)):
                self.match = found
                self.seen.set()
        self.seen.set()  # the stream ended: whoever waits should stop waiting

    def wait(self, what: str) -> re.Match[str]:
        if not self.seen.wait(PROCESS_START_S) or self.match is None:
            pytest.fail(f"{what} did not start:\n{self.tail()}", pytrace=False)
        return self.match

    def tail(self) -> str:
        return "\n".join(self.lines[-30:])

    def close(self) -> None:
        """After the child exited: the reader reaches the end of the stream, then it is closed."""
        self._thread.join(timeout=10)
        self._stream.close()


def _end(process: subprocess.Popen[str], watch: _LineWatch) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    watch.close()


class GatewayProcess:
    """``python -m gateway serve`` in a child process, on a port the child picks.

    Started at construction; ``ready()`` returns once uvicorn says where it listens.
    """

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        # The checkout's own package, whether or not it is installed.
        path = os.pathsep.join(p for p in (str(SOURCE_ROOT), clean.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=workdir,  # no stray .env file is read
            env={**clean, **env, "GATEWAY_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._watch = _LineWatch(self.process.stderr, r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
        self.url = ""

    def ready(self) -> GatewayProcess:
        self.url = f"http://127.0.0.1:{self._watch.wait('the gateway process').group(1)}"
        return self

    def output(self) -> str:
        return self._watch.tail()

    def stop(self) -> None:
        _end(self.process, self._watch)


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
        self._watch = _LineWatch(self.process.stdout, r"Ready to accept connections")
        try:
            self._watch.wait("redis-server")
        except BaseException:
            self.stop()
            raise

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        _end(self.process, self._watch)
