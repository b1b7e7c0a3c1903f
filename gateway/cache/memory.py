"""The in-process cache: aiocache's memory store, bounded in entries and in bytes (LRU).

aiocache's memory backend has no size bound, so this keeps an index of each key's size in recency
order and evicts the least recently used entries until both bounds hold. Expired entries stay (for
stale-if-error) until their ``keep_for`` runs out or they are evicted, and count against the bound
while they do.

The store's backend methods (``_get``, ``_set``, ``_delete``, the protocol aiocache backends
implement) are called directly: its public methods add decorators that read the environment and
wrap each call in plugins and timeouts, several microseconds a call on the hottest path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import cast

from aiocache import SimpleMemoryCache
from aiocache.serializers import NullSerializer

from gateway.cache.base import Cache, Clock, Entry

DEFAULT_MAX_BYTES = 256 * 2**20


class MemoryCache(Cache):
    """Entries of this process only; ``max_entries`` and ``max_bytes`` bound it."""

    name = "memory"

    def __init__(
        self, max_entries: int, clock: Clock = time.time, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(clock)
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        # No aiocache TTLs: expiry is read from the entry, so no timer runs per key.
        self._store = SimpleMemoryCache(serializer=NullSerializer(), timeout=None)
        self._index: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (size, keep until)

    def __len__(self) -> int:
        return len(self._index)

    async def get(self, key: str) -> Entry | None:
        held = self._index.get(key)
        if held is None:
            return None
        if held[1] < self.clock():
            await self._drop(key)
            return None
        self._index.move_to_end(key)
        return cast(Entry | None, await self._store._get(key))

    get_local = get

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        size = entry.size(key)
        if size > self.max_bytes:
            return  # larger than the whole cache: not kept
        await self._drop(key)
        await self._store._set(key, entry)
        self._index[key] = (size, self.clock() + keep_for)
        self.bytes += size
        while len(self._index) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._index))
            await self._drop(oldest)

    set_local = set

    async def _drop(self, key: str) -> None:
        held = self._index.pop(key, None)
        if held is not None:
            self.bytes -= held[0]
            await self._store._delete(key)

    async def clear(self) -> None:
        await self._store.clear()
        self._index.clear()
        self.bytes = 0

    async def close(self) -> None:
        await self.clear()
