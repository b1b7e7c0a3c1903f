"""Cache backends by name: the only package that imports aiocache.

``GATEWAY_CACHE_URL`` picks one from ``BACKENDS``: ``memory://`` (bounded LRU in the process),
``redis://host:port/db`` or ``rediss://`` (shared by replicas, with a bounded copy in each process)
and ``none://`` (the do-nothing twin). Settings validate the scheme against the same table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.cache.base import Cache, CacheTrouble, Clock, Entry, Lease
from gateway.cache.guarded import GuardedCache
from gateway.cache.memory import DEFAULT_MAX_BYTES, MemoryCache
from gateway.cache.redis import RedisBackedCache

__all__ = [
    "BACKENDS",
    "Cache",
    "CacheOptions",
    "CacheTrouble",
    "Entry",
    "GuardedCache",
    "Lease",
    "MemoryCache",
    "RedisBackedCache",
    "create_cache",
]


@dataclass(frozen=True)
class CacheOptions:
    """Bounds of what a process holds itself: the memory backend, or Redis's in-process copy."""

    max_entries: int = 10_000
    max_bytes: int = DEFAULT_MAX_BYTES
    clock: Clock = time.time
    op_timeout_s: float = 1.0  # each Redis operation's deadline
    stale_s: float = 0.0  # how long the in-process copy keeps expired entries, for stale answers


def _redis(url: str, o: CacheOptions) -> Cache:
    return RedisBackedCache(
        url,
        clock=o.clock,
        op_timeout_s=o.op_timeout_s,
        near_entries=o.max_entries,
        near_bytes=o.max_bytes,
        near_stale_s=o.stale_s,
    )


BACKENDS: dict[str, Callable[[str, CacheOptions], Cache]] = {
    "memory": lambda url, o: MemoryCache(o.max_entries, o.clock, max_bytes=o.max_bytes),
    "redis": _redis,
    "rediss": _redis,
    "none": lambda url, o: Cache(o.clock),
}


def create_cache(url: str, options: CacheOptions | None = None, **bounds: Any) -> Cache:
    """The backend named by ``url``; ``bounds`` are ``CacheOptions`` fields (for brevity in tests)."""
    scheme = urlsplit(url).scheme
    make = BACKENDS.get(scheme)
    if make is None:
        raise ValueError(f"unsupported cache URL scheme {scheme!r}")
    return make(url, options or CacheOptions(**bounds))
