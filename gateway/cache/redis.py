"""The shared cache: entries every replica sees through Redis, and leases for cross-process single-flight.

``redis://[:password@]host:port/db[?namespace=name]`` (``rediss://`` for TLS). Keys are
``<namespace>:<key>`` for entries, ``<namespace>:lease:<key>`` for leases and
``<namespace>:released:<key>`` for the release channel. Every operation is bounded by
``op_timeout_s`` and never retried: a cache that is slow is treated as absent.
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
        # A bounded pool that queues (for at most op_timeout_s) rather than failing at once when a
        # burst of requests wants more connections than it has.
        pool_kwargs: dict[str, Any] = {"socket_timeout": op_timeout_s, "timeout": op_timeout_s}
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
            create_connection_timeout=op_timeout_s,
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

    async def get(self, key: str) -> Entry | None:
        if self._near is not None:
            near = await self._near.get(key)
            if near is not None and near.fresh(self.clock()):
                return near
        try:
            raw = await self._store.get(key)
        except Exception as exc:
            raise CacheTrouble(f"redis get failed: {_reason(exc)}") from exc
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

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        if self._near is not None:
            await self._near.set(key, entry, keep_for=keep_for)
        # SET with PX through ``raw``: aiocache's ``set`` sends SETEX, which redis-py deprecates.
        try:
            await self._store.raw("set", self.entry_key(key), entry.dump(), px=max(1, int(keep_for * 1000)))
        except Exception as exc:
            raise CacheTrouble(f"redis set failed: {_reason(exc)}") from exc

    async def acquire(self, key: str, hold_for: float) -> Lease | None:
        token = secrets.token_hex(8)
        try:
            ok = await self._client.set(self.lease_key(key), token, nx=True, px=max(1, int(hold_for * 1000)))
        except Exception as exc:
            raise CacheTrouble(f"redis lease failed: {_reason(exc)}") from exc
        return Lease(key, token) if ok else None

    async def release(self, lease: Lease) -> None:
        try:
            await self._client.eval(
                _RELEASE, 2, self.lease_key(lease.key), self._channel(lease.key), lease.token
            )
        except Exception as exc:
            raise CacheTrouble(f"redis release failed: {_reason(exc)}") from exc

    async def wait(self, key: str, within_s: float) -> bool:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(self._channel(key))
            # Subscribed first, then checked: a release between the two is not missed.
            if not await self._client.exists(self.lease_key(key)):
                return True
            # Real time, not the entry clock: this bounds an actual wait.
            deadline = time.monotonic() + within_s
            while (left := deadline - time.monotonic()) > 0:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                if message is not None:
                    return True
            return False
        except Exception as exc:
            raise CacheTrouble(f"redis wait failed: {_reason(exc)}") from exc
        finally:
            try:
                await pubsub.aclose()
            except Exception:
                log.debug("closing a redis subscription failed", exc_info=True)

    async def ping(self) -> None:
        """A write as well as a read: a full Redis answers PING but refuses to store."""
        try:
            await self._client.ping()
            await self._client.set(f"{self.namespace}:probe", "1", px=1000)
        except Exception as exc:
            raise CacheTrouble(f"redis does not answer properly: {_reason(exc)}") from exc

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
            raise CacheTrouble(f"redis clear failed: {_reason(exc)}") from exc

    async def close(self) -> None:
        for client in (self._client, self._subscriber):
            try:
                # Each client owns its pool (aiocache sets auto_close_connection_pool on its own).
                await client.aclose(close_connection_pool=True)
            except Exception:
                log.debug("closing redis failed", exc_info=True)


def _reason(exc: BaseException) -> str:
    """The exception's class, and Redis's own error text for refusals (e.g. OOM): never a key."""
    name = type(exc).__name__
    if name == "ResponseError":
        said = str(exc).split(" ", 1)[0][:40]
        return f"{name} {said}"
    return name
