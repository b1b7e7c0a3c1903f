"""What every cache backend stores and offers; ``Cache`` itself is the do-nothing backend (``none://``).

Values are bytes (an upstream's body, or an encoded GraphQL response) wrapped in an ``Entry`` that
remembers when it was stored and for how long it is fresh; backends keep entries a while longer
(``keep_for``) so an expired answer can still be served when its upstream fails.

Every backend also offers a *lease*, the cross-process half of single-flight: the holder of a lease
fetches, others ``wait`` for its release (bounded) and then read the cache. In one process the
upstream layer already coalesces identical requests, so the local backends grant every lease at
once. A lease expires on its own, so a holder that dies only delays the others by the bounded wait.

Backend failures raise ``CacheTrouble``; ``GuardedCache`` turns them into misses, or into what
this process itself holds (``get_local``, ``set_local``). A shared backend also offers a ``board``
on which replicas share the upstreams' pauses and rate limits (``board.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.cache.board import RedisBoard

Clock = Callable[[], float]

# What an entry costs besides its key and value (the Entry, its floats, the index slot): counted
# so that many small entries cannot pass the byte bound unseen.
ENTRY_OVERHEAD = 160


class CacheTrouble(Exception):
    """The cache backend did not answer properly; the message says what, without keys."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer. ``tag`` is a short text the writer keeps with it (e.g. an ETag)."""

    value: bytes
    stored_at: float
    ttl: float
    tag: str = ""

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def remaining(self, now: float) -> float:
        return self.ttl - self.age(now)

    def fresh(self, now: float) -> bool:
        return self.remaining(now) > 0

    def size(self, key: str) -> int:
        return len(key) + len(self.value) + len(self.tag) + ENTRY_OVERHEAD

    def dump(self) -> bytes:
        """One header line, then the value: how entries travel to and from Redis."""
        return f"{self.stored_at!r} {self.ttl!r} {self.tag}\n".encode() + self.value

    @classmethod
    def load(cls, raw: bytes) -> Entry | None:
        """An entry from ``dump``'s bytes; None for anything else (written by someone else)."""
        head, sep, value = raw.partition(b"\n")
        parts = head.decode("utf-8", "replace").split(" ", 2)
        if not sep or len(parts) != 3:
            return None
        try:
            return cls(value, float(parts[0]), float(parts[1]), parts[2])
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to fetch ``key`` on behalf of every process; an empty token means "not shared"."""

    key: str
    token: str


class Cache:
    """The do-nothing cache (``none://``); the other backends override what they store."""

    name = "none"
    shared = False  # True when several processes see the same entries

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock

    async def get(self, key: str) -> Entry | None:
        return None

    async def get_local(self, key: str) -> Entry | None:
        """What this process itself still holds of ``key`` (read while the backend is in trouble)."""
        return None

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        return None

    async def set_local(self, key: str, entry: Entry, keep_for: float) -> None:
        """Keep ``entry`` in this process only (while the backend is in trouble)."""
        return None

    def board(self) -> RedisBoard | None:
        """Where replicas share the upstreams' pauses and rate limits; None when not shared."""
        return None

    async def acquire(self, key: str, hold_for: float) -> Lease | None:
        """A lease to fetch ``key``, or None when another process already holds one."""
        return Lease(key, "")

    async def release(self, lease: Lease) -> None:
        return None

    async def wait(self, key: str, within_s: float) -> bool:
        """Wait until the lease on ``key`` is free: True when it is, False after ``within_s``."""
        return True

    async def ping(self) -> None:
        """Raise ``CacheTrouble`` unless the backend can read and write."""
        return None

    async def clear(self) -> None:
        return None

    async def close(self) -> None:
        return None
