"""The shared cache: entries every replica sees through Redis, and leases for cross-process single-flight.

``redis://[:password@]host:port/db[?namespace=name]`` (``rediss://`` for TLS). Keys are
``<namespace>:<key>`` for entries, ``<namespace>:lease:<key>`` for leases and
``<namespace>:released:<key>`` for the release channel; ``board()`` shares the upstreams' pauses
and rate limits (``board.py``). Every operation is bounded by ``op_timeout_s`` of a responsive event
loop (``fair.py``: time this process's own loop lost to CPU starvation is not held against Redis)
and never retried: a cache that is slow is treated as absent.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiocache import RedisCache
from aiocache.serializers import BaseSerializer
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

from gateway.cache.base import Cache, CacheTrouble, Clock, Entry, Lease
from gateway.cache.board import RedisBoard, reason
from gateway.cache.fair import MAX_EXCUSE_S, fair_timeout
from gateway.cache.memory import DEFAULT_MAX_BYTES, MemoryCache

log = logging.getLogger("gateway.cache")

DEFAULT_NAMESPACE = "stats-gateway"
REDIS_CONNECTIONS = 64  # per process, for reads and writes
WAITING_CONNECTIONS = 1000  # per process, for waits on another process's lease


class _Bytes(BaseSerializer):  # type: ignore[misc]  # aiocache is untyped
    """Entries are bytes both ways: aiocache leaves them undecoded with no encoding."""

    DEFAULT_ENCODING = None

    def dumps(self, value: Any) -> Any:
        return value

    def loads(self, value: Any) -> Any:
        return value


# Deletes the lease only if it is still ours (it may have expired and been taken by another
# process), then tells the waiters. One script, so no waiter can miss the note.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
end
return redis.call('publish', KEYS[2], '1')
"""


class RedisBackedCache(Cache):
    """Entries shared by every replica through Redis; leases make single-flight cross-process.

    With ``near_entries`` > 0, entries this process read or wrote are also kept in a bounded
    in-process copy (``near_bytes`` bounds it in bytes), so a hot entry costs no round trip. That
    changes nothing anyone sees while Redis answers: an answer is fetched again only once its entry
    stops being fresh, only fresh entries are served from the copy, and expired ones (for
    stale-if-error) are read from Redis. While Redis does not answer, ``get_local`` serves the copy,
    fresh or expired, so the process keeps its hit rate and its stale answers.
    """

    name = "redis"
    shared = True

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = time.time,
        namespace: str | None = None,
        op_timeout_s: float = 1.0,
        near_entries: int = 0,
        near_bytes: int = DEFAULT_MAX_BYTES,
        near_stale_s: float = 0.0,
    ) -> None:
        super().__init__(clock)
        self._near = MemoryCache(near_entries, clock, max_bytes=near_bytes) if near_entries > 0 else None
        # How long past freshness the copy keeps what it read, for stale answers while Redis is down.
        self._near_stale = near_stale_s
        parts = urlsplit(url)
        try:
            db = int(parts.path.strip("/") or 0)
            port = parts.port or 6379
        except ValueError:
            raise ValueError("a Redis cache URL looks like redis://host:port/db") from None
        query = parse_qs(parts.query)
        self.namespace = namespace or query.get("namespace", [DEFAULT_NAMESPACE])[0]
        self.op_timeout_s = op_timeout_s
        # Operations are bounded by fair_timeout(op_timeout_s); redis-py's own timeouts, which
        # cannot tell a slow Redis from a starved loop, only stop what outlives every excuse. The
        # pool is bounded and queues rather than failing at once when a burst wants more
        # connections than it has.
        backstop = op_timeout_s + MAX_EXCUSE_S
        pool_kwargs: dict[str, Any] = {"socket_timeout": backstop, "timeout": backstop}
        if parts.username:
            pool_kwargs["username"] = unquote(parts.username)
        self._store = RedisCache(
            serializer=_Bytes(),
            endpoint=parts.hostname or "127.0.0.1",
            port=port,
            db=db,
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "rediss",
            namespace=self.namespace,
            # Bounded by the socket timeouts instead: aiocache's own would add a task per call.
            timeout=None,
            create_connection_timeout=backstop,
            pool_max_size=REDIS_CONNECTIONS,
            connection_pool_class=BlockingConnectionPool,
            connection_pool_kwargs=pool_kwargs,
        )
        self._client: Any = self._store.client
        # Waiting for a lease holds a subscribed connection for up to the lock wait: those get a
        # pool of their own, so many waits at once never starve the cache's reads and writes.
        pool = self._client.connection_pool
        self._subscriber: Any = Redis(
            connection_pool=ConnectionPool(
                connection_class=pool.connection_class,
                max_connections=WAITING_CONNECTIONS,
                **pool.connection_kwargs,
            )
        )

    def entry_key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def lease_key(self, key: str) -> str:
        return f"{self.namespace}:lease:{key}"

    def _channel(self, key: str) -> str:
        return f"{self.namespace}:released:{key}"

    def board(self) -> RedisBoard:
        return RedisBoard(self._client, self._subscriber, self.namespace, self.op_timeout_s)

    async def get(self, key: str) -> Entry | None:
        if self._near is not None:
            near = await self._near.get(key)
            if near is not None and near.fresh(self.clock()):
                return near
        try:
            async with fair_timeout(self.op_timeout_s):
                raw = await self._store.get(key)
        except Exception as exc:
            raise CacheTrouble(f"redis get failed: {reason(exc)}") from exc
        if raw is None:
            return None
        # A value that is not an entry (written by something else) is a miss, not trouble.
        entry = Entry.load(raw) if isinstance(raw, bytes) else None
        if entry is not None and self._near is not None:
            await self._near.set(
                key, entry, keep_for=max(0.0, entry.remaining(self.clock())) + self._near_stale
            )
        return entry

    async def get_local(self, key: str) -> Entry | None:
        return None if self._near is None else await self._near.get(key)

    async def set_local(self, key: str, entry: Entry, keep_for: float) -> None:
        if self._near is not None:
            await self._near.set(key, entry, keep_for=keep_for)

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        if self._near is not None:
            await self._near.set(key, entry, keep_for=keep_for)
        # SET with PX through ``raw``: aiocache's ``set`` sends SETEX, which redis-py deprecates.
        try:
            async with fair_timeout(self.op_timeout_s):
                await self._store.raw(
                    "set", self.entry_key(key), entry.dump(), px=max(1, int(keep_for * 1000))
                )
        except Exception as exc:
            raise CacheTrouble(f"redis set failed: {reason(exc)}") from exc

    async def acquire(self, key: str, hold_for: float) -> Lease | None:
        token = secrets.token_hex(8)
        try:
            async with fair_timeout(self.op_timeout_s):
                ok = await self._client.set(
                    self.lease_key(key), token, nx=True, px=max(1, int(hold_for * 1000))
                )
        except Exception as exc:
            raise CacheTrouble(f"redis lease failed: {reason(exc)}") from exc
        return Lease(key, token) if ok else None

    async def release(self, lease: Lease) -> None:
        try:
            async with fair_timeout(self.op_timeout_s):
                await self._client.eval(
                    _RELEASE, 2, self.lease_key(lease.key), self._channel(lease.key), lease.token
                )
        except Exception as exc:
            raise CacheTrouble(f"redis release failed: {reason(exc)}") from exc

    async def wait(self, key: str, within_s: float) -> bool:
        pubsub = self._subscriber.pubsub()
        try:
            try:
                async with fair_timeout(self.op_timeout_s):
                    await pubsub.subscribe(self._channel(key))
                    # Subscribed first, then checked: a release between the two is not missed.
                    if not await self._client.exists(self.lease_key(key)):
                        return True
            except Exception as exc:
                raise CacheTrouble(f"redis wait failed: {reason(exc)}") from exc
            try:
                # Real time, not the entry clock; fair too: the holder's note may reach a starved
                # loop late, which is no reason to fetch a second time.
                async with fair_timeout(within_s):
                    # None: a confirmation, or a second without news (the deadline decides).
                    while await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0) is None:
                        pass
                return True
            except TimeoutError:
                return False
            except Exception as exc:
                raise CacheTrouble(f"redis wait failed: {reason(exc)}") from exc
        finally:
            try:
                await pubsub.aclose()
            except Exception:
                log.debug("closing a redis subscription failed", exc_info=True)

    async def ping(self) -> None:
        """A write as well as a read: a full Redis answers PING but refuses to store."""
        try:
            async with fair_timeout(self.op_timeout_s):
                await self._client.ping()
                await self._client.set(f"{self.namespace}:probe", "1", px=1000)
        except Exception as exc:
            raise CacheTrouble(f"redis does not answer properly: {reason(exc)}") from exc

    async def clear(self) -> None:
        """Delete this namespace's keys (SCAN, not KEYS: other tenants of the server keep going)."""
        if self._near is not None:
            await self._near.clear()
        try:
            batch: list[Any] = []
            async for name in self._client.scan_iter(match=f"{self.namespace}:*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    await self._client.delete(*batch)
                    batch.clear()
            if batch:
                await self._client.delete(*batch)
        except Exception as exc:
            raise CacheTrouble(f"redis clear failed: {reason(exc)}") from exc

    async def close(self) -> None:
        for client in (self._client, self._subscriber):
            try:
                # Each client owns its pool (aiocache sets auto_close_connection_pool on its own).
                await client.aclose(close_connection_pool=True)
            except Exception:
                log.debug("closing redis failed", exc_info=True)
