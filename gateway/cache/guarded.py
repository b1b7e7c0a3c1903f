"""A cache whose trouble never fails a query: failures read as misses (or this process's own copy).

``trouble`` holds the reason while the backend misbehaves (``/readyz`` reports it). While in trouble
the backend is left alone for ``retry_after_s`` (real time), so a slow or dead Redis costs one
timeout per interval rather than one per call; meanwhile this process keeps what it fetches and
answers reads from it (``get_local``, ``set_local``: Redis's in-process copy), so its hit rate and
its stale answers outlast the outage. The first call that reaches the backend and works clears
``trouble`` and logs the recovery, once (an answer from the process's own copy proves nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.cache.base import Cache, CacheTrouble, Clock, Entry, Lease

log = logging.getLogger("gateway.cache")


class GuardedCache:
    """Wraps a backend; every method answers, whatever the backend does."""

    def __init__(
        self,
        cache: Cache,
        *,
        retry_after_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = cache
        self.trouble: str | None = None
        self.retry_after_s = retry_after_s
        self._monotonic = monotonic
        self._skip_until = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def shared(self) -> bool:
        return self.inner.shared

    @property
    def clock(self) -> Clock:
        return self.inner.clock

    def _usable(self) -> bool:
        return self.trouble is None or self._monotonic() >= self._skip_until

    def _failed(self, exc: CacheTrouble) -> None:
        if self.trouble is None:
            log.warning("cache %s unavailable, going to the upstreams directly: %s", self.inner.name, exc)
        self.trouble = str(exc)
        self._skip_until = self._monotonic() + self.retry_after_s

    def _worked(self) -> None:
        if self.trouble is not None:
            log.warning("cache %s answers again", self.inner.name)
            self.trouble = None

    async def get(self, key: str) -> Entry | None:
        if self.trouble is not None:
            if not self._usable():
                return await self.inner.get_local(key)
            local = await self.inner.get_local(key)
            if local is not None and local.fresh(self.clock()):
                return local
        try:
            entry = await self.inner.get(key)
        except CacheTrouble as exc:
            self._failed(exc)
            return await self.inner.get_local(key)
        if self.trouble is not None:
            self._worked()
        return entry

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        if not self._usable():
            await self.inner.set_local(key, entry, keep_for)
            return
        try:
            await self.inner.set(key, entry, keep_for)
        except CacheTrouble as exc:
            self._failed(exc)
        else:
            if self.trouble is not None:
                self._worked()

    async def acquire(self, key: str, hold_for: float) -> Lease | None:
        if not self._usable():
            return Lease(key, "")
        try:
            return await self.inner.acquire(key, hold_for)
        except CacheTrouble as exc:
            self._failed(exc)
            return Lease(key, "")  # without a working cache, fetch directly

    async def release(self, lease: Lease) -> None:
        if not lease.token:
            return
        try:
            await self.inner.release(lease)
        except CacheTrouble as exc:
            self._failed(exc)

    async def wait(self, key: str, within_s: float) -> bool:
        if not self._usable():
            return False
        try:
            return await self.inner.wait(key, within_s)
        except CacheTrouble as exc:
            self._failed(exc)
            return False

    async def check(self) -> str | None:
        """Probe the backend now (whatever the retry interval); the reason it is not ready, or None."""
        try:
            await self.inner.ping()
        except CacheTrouble as exc:
            self._failed(exc)
            return str(exc)
        self._worked()
        return None
