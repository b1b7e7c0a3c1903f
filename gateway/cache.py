"""Cache backends by name: ``memory://`` (bounded LRU), ``redis://host:port/db`` and ``none://``.

The only importer of aiocache. Values are JSON-able upstream bodies wrapped in an ``Entry`` that
remembers when it was stored and for how long it is fresh; backends keep entries a while longer
(``keep_for``) so an expired answer can still be served when its upstream fails.

Every backend also offers a *lease*, the cross-process half of single-flight: the holder of a lease
fetches, others ``wait`` for its release (bounded) and then read the cache. In one process the
upstream layer already coalesces identical requests, so the memory and none backends grant every
lease at once; Redis uses ``SET NX PX`` and a pub/sub release note. A lease expires on its own, so
a holder that dies only delays the others by the bounded wait.

Backend failures raise ``CacheTrouble``; ``GuardedCache`` turns them into misses, so the cache can
make a query slower or faster but never fail it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import JsonSerializer, NullSerializer
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

log = logging.getLogger("gateway.cache")

Clock = Callable[[], float]

DEFAULT_NAMESPACE = "stats-gateway"
REDIS_CONNECTIONS = 64  # per process, for reads and writes
WAITING_CONNECTIONS = 1000  # per process, for waits on another process's lease


class CacheTrouble(Exception):
    """The cache backend did not answer properly; the message says what, without keys."""


@dataclass(frozen=True)
class Entry:
    """A cached upstream answer. ``value`` is shared by every reader: treat it as immutable."""

    value: Any
    stored_at: float
    ttl: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def remaining(self, now: float) -> float:
        return self.ttl - self.age(now)

    def fresh(self, now: float) -> bool:
        return self.remaining(now) > 0

    def to_json(self) -> dict[str, Any]:
        return {"v": self.value, "t": self.stored_at, "ttl": self.ttl}

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        return cls(value=data["v"], stored_at=float(data["t"]), ttl=float(data["ttl"]))


@dataclass(frozen=True)
class Lease:
    """The right to fetch ``key`` on behalf of every process; an empty token means "not shared"."""

    key: str
    token: str


def _whole_seconds(seconds: float) -> int:
    return max(1, int(seconds + 0.999))


class Cache:
    """The do-nothing cache (``none://``); the other backends override what they store."""

    name = "none"
    shared = False  # True when several processes see the same entries

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock

    async def get(self, key: str) -> Entry | None:
        return None

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
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


class MemoryCache(Cache):
    """In-process cache on aiocache's memory backend, bounded to ``max_entries`` (LRU)."""

    name = "memory"

    def __init__(self, max_entries: int, clock: Clock = time.time) -> None:
        super().__init__(clock)
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        # timeout=None: a dict lookup needs no deadline, and aiocache's wraps each call in a task.
        self._store = SimpleMemoryCache(serializer=NullSerializer(), timeout=None)
        # aiocache's memory backend has no size bound: this index keeps recency and evicts.
        self._order: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    async def get(self, key: str) -> Entry | None:
        entry = cast(Entry | None, await self._store.get(key))
        if entry is None:
            self._order.pop(key, None)
            return None
        self._order.move_to_end(key)
        return entry

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        await self._store.set(key, entry, ttl=_whole_seconds(keep_for))
        self._order[key] = None
        self._order.move_to_end(key)
        while len(self._order) > self.max_entries:
            oldest, _ = self._order.popitem(last=False)
            await self._store.delete(oldest)

    async def clear(self) -> None:
        await self._store.clear()
        self._order.clear()

    async def close(self) -> None:
        await self.clear()


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

    ``redis://[:password@]host:port/db[?namespace=name]``. Keys are ``<namespace>:<key>`` for
    entries, ``<namespace>:lease:<key>`` for leases and ``<namespace>:released:<key>`` for the
    release channel. Every operation is bounded by ``op_timeout_s`` and never retried: a cache
    that is slow is treated as absent.

    With ``near_entries`` > 0, entries this process read or wrote are also kept in a bounded
    in-process LRU until they stop being fresh, so a hot entry costs no round trip. That changes
    nothing anyone sees: an answer is fetched again only once its entry stops being fresh, only
    fresh entries are served from there, and expired ones (for stale-if-error) are always read
    from Redis.
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
    ) -> None:
        super().__init__(clock)
        self._near = MemoryCache(near_entries, clock) if near_entries > 0 else None
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
        self._serializer = JsonSerializer()
        self._store = RedisCache(
            serializer=self._serializer,
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
            # Read as text and decoded here: a value that is not an entry is a miss, not trouble.
            text = await self._store.get(key, loads_fn=_text)
        except Exception as exc:
            raise CacheTrouble(f"redis get failed: {_reason(exc)}") from exc
        if text is None:
            return None
        try:
            entry = Entry.from_json(json.loads(text))
        except (KeyError, TypeError, ValueError):
            return None  # written by something else: treat as absent
        await self._keep_near(key, entry)
        return entry

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        # SET with PX through ``raw``: aiocache's ``set`` sends SETEX, which redis-py deprecates.
        text = self._serializer.dumps(entry.to_json())
        try:
            await self._store.raw("set", self.entry_key(key), text, px=max(1, int(keep_for * 1000)))
        except Exception as exc:
            raise CacheTrouble(f"redis set failed: {_reason(exc)}") from exc
        await self._keep_near(key, entry)

    async def _keep_near(self, key: str, entry: Entry) -> None:
        if self._near is None:
            return
        left = entry.remaining(self.clock())
        if left > 0:
            await self._near.set(key, entry, keep_for=left)

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


def _text(value: str | None) -> str | None:
    return value


def _reason(exc: BaseException) -> str:
    """The exception's class, and Redis's own error text for refusals (e.g. OOM): never a key."""
    name = type(exc).__name__
    if name == "ResponseError":
        said = str(exc).split(" ", 1)[0][:40]
        return f"{name} {said}"
    return name


def create_cache(url: str, *, max_entries: int = 10_000, clock: Clock = time.time) -> Cache:
    """The backend named by ``url`` (see ``GATEWAY_CACHE_URL``).

    ``max_entries`` bounds the memory backend, and Redis's in-process copy of hot entries.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryCache(max_entries, clock)
    if scheme in {"redis", "rediss"}:
        return RedisBackedCache(url, clock=clock, near_entries=max_entries)
    if scheme == "none":
        return Cache(clock)
    raise ValueError(f"unsupported cache URL scheme {scheme!r}")


class GuardedCache:
    """A cache whose trouble never fails a query: failures read as misses and are logged once.

    ``trouble`` holds the reason while the backend misbehaves (``/readyz`` reports it). While in
    trouble the backend is left alone for ``retry_after_s`` (real time), so a slow or dead Redis
    costs one timeout per interval rather than one per call; the next call after that tries it
    again. The first call that works clears ``trouble`` and logs the recovery, once.
    """

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
        if not self._usable():
            return None
        try:
            entry = await self.inner.get(key)
        except CacheTrouble as exc:
            self._failed(exc)
            return None
        self._worked()
        return entry

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        if not self._usable():
            return
        try:
            await self.inner.set(key, entry, keep_for)
        except CacheTrouble as exc:
            self._failed(exc)
        else:
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
