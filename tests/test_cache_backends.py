"""The cache backends by name, on their own: memory (bounded LRU), Redis (shared, leases), none."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gateway.cache import (
    Cache,
    CacheTrouble,
    Entry,
    GuardedCache,
    Lease,
    MemoryCache,
    RedisBackedCache,
    create_cache,
)
from tests.cache_support import FakeClock, RedisSpace, redis_client, redis_monitor, until_command

pytest_plugins = ("tests.cache_fixtures",)


def entry(value: object, ttl: float = 60, stored_at: float = 1000.0) -> Entry:
    """An entry holding ``value`` as JSON bytes, as upstream bodies are held."""
    return Entry(json.dumps(value).encode(), stored_at, ttl)


# ---------------------------------------------------------------------- by name


def test_backends_are_chosen_by_url_scheme() -> None:
    memory = create_cache("memory://", max_entries=5)
    assert isinstance(memory, MemoryCache)
    assert memory.max_entries == 5
    shared = create_cache("redis://127.0.0.1:6379/15", max_entries=7)
    assert isinstance(shared, RedisBackedCache)
    assert shared._near is not None
    assert shared._near.max_entries == 7
    none = create_cache("none://")
    assert type(none) is Cache
    assert none.name == "none"
    with pytest.raises(ValueError, match="unsupported cache URL scheme"):
        create_cache("memcached://127.0.0.1")


def test_the_redis_url_gives_db_and_namespace() -> None:
    cache = RedisBackedCache("redis://127.0.0.1:6379/15?namespace=blue")
    assert cache.namespace == "blue"
    assert cache.entry_key("k") == "blue:k"
    assert cache.lease_key("k") == "blue:lease:k"
    assert cache._store.db == 15
    assert RedisBackedCache("redis://127.0.0.1:6379").namespace == "stats-gateway"


def test_entry_freshness_follows_the_clock() -> None:
    e = entry("v", ttl=60, stored_at=1000)
    assert e.fresh(1059.9)
    assert not e.fresh(1060)
    assert e.age(1030) == 30
    assert e.remaining(1030) == 30
    assert Entry.load(e.dump()) == e
    tagged = Entry(b"body\nwith lines", 1000.5, 60, 'shared "etag"')
    assert Entry.load(tagged.dump()) == tagged
    assert Entry.load(b"not an entry") is None


async def test_none_stores_nothing_and_grants_every_lease() -> None:
    cache = Cache()
    await cache.set("k", entry("v"), keep_for=60)
    assert await cache.get("k") is None
    assert await cache.acquire("k", 1) == Lease("k", "")
    assert await cache.acquire("k", 1) == Lease("k", "")


# ---------------------------------------------------------------------- memory


async def test_memory_round_trip() -> None:
    cache = MemoryCache(max_entries=10)
    await cache.set("k", entry({"totals": 3}), keep_for=60)
    got = await cache.get("k")
    assert got == entry({"totals": 3})
    assert await cache.get("other") is None


async def test_memory_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, entry(key), keep_for=60)
    assert await cache.get("a") is not None  # "a" is now the most recently used; "b" the least
    await cache.set("d", entry("d"), keep_for=60)
    assert len(cache) == 3
    assert await cache.get("b") is None
    assert [await cache.get(k) is not None for k in ("a", "c", "d")] == [True, True, True]


async def test_memory_bound_holds_under_many_keys() -> None:
    cache = MemoryCache(max_entries=50)
    for i in range(500):
        await cache.set(f"k{i}", entry(i), keep_for=60)
    assert len(cache) == 50
    assert await cache.get("k449") is None
    assert await cache.get("k450") is not None
    assert len(cache._store._cache) == 50  # aiocache's own dict is bounded too


async def test_memory_overwrite_does_not_grow() -> None:
    cache = MemoryCache(max_entries=2)
    for _ in range(5):
        await cache.set("k", entry("v"), keep_for=60)
    assert len(cache) == 1


async def test_memory_keeps_expired_entries_for_stale_use() -> None:
    clock = FakeClock(1000)
    cache = MemoryCache(max_entries=5, clock=clock)
    await cache.set("k", entry("v", ttl=60, stored_at=clock()), keep_for=60 + 3600)
    clock.advance(600)
    held = await cache.get("k")
    assert held is not None
    assert not held.fresh(clock())


def test_memory_needs_a_positive_bound() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


# ---------------------------------------------------------------------- redis


@pytest.mark.redis
async def test_redis_entries_are_shared_by_replicas(redis_space: RedisSpace) -> None:
    one, two = RedisBackedCache(redis_space.url), RedisBackedCache(redis_space.url)
    try:
        await one.set("k", entry({"totals": 7}), keep_for=90)
        assert await two.get("k") == entry({"totals": 7})
        assert await two.get("missing") is None
    finally:
        await one.close()
        await two.close()
    client = redis_client()
    try:
        ttl_ms = client.pttl(f"{redis_space.namespace}:k")
    finally:
        client.close()
    assert 0 < ttl_ms <= 90_000  # kept for keep_for, by Redis itself


@pytest.mark.redis
async def test_redis_keeps_hot_fresh_entries_near_and_nothing_else(redis_space: RedisSpace) -> None:
    clock = FakeClock(1000)
    cache = RedisBackedCache(redis_space.url, clock=clock, near_entries=2)
    client = redis_client()
    try:
        await cache.set("k", entry("v", ttl=60, stored_at=clock()), keep_for=3600)
        client.delete(f"{redis_space.namespace}:k")
        # Gone from Redis, still fresh: read from this process's copy, no round trip.
        assert await cache.get("k") == entry("v", ttl=60, stored_at=1000)

        await cache.set("k", entry("v", ttl=60, stored_at=clock()), keep_for=3600)
        clock.advance(61)
        # Expired: never served from the near copy; Redis still holds it for stale-if-error.
        held = await cache.get("k")
        assert held is not None
        assert not held.fresh(clock())
        client.delete(f"{redis_space.namespace}:k")
        assert await cache.get("k") is None

        for key in ("a", "b", "c"):
            await cache.set(key, entry(key, ttl=60, stored_at=clock()), keep_for=3600)
        assert cache._near is not None
        assert len(cache._near) == 2  # bounded like the memory backend
    finally:
        client.close()
        await cache.close()


@pytest.mark.redis
async def test_a_burst_of_redis_calls_queues_for_connections_rather_than_failing(
    redis_space: RedisSpace,
) -> None:
    cache = RedisBackedCache(redis_space.url)
    guarded = GuardedCache(cache)
    try:
        await asyncio.gather(*(guarded.set(f"k{i}", entry(i), keep_for=60) for i in range(300)))
        got = await asyncio.gather(*(guarded.get(f"k{i}") for i in range(300)))
        assert [json.loads(e.value) if e else None for e in got] == list(range(300))
        assert guarded.trouble is None
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_ignores_foreign_values(redis_space: RedisSpace) -> None:
    client = redis_client()
    try:
        client.set(f"{redis_space.namespace}:k", '{"not": "an entry"}')
        client.set(f"{redis_space.namespace}:j", "not even JSON")
    finally:
        client.close()
    cache = RedisBackedCache(redis_space.url)
    guarded = GuardedCache(cache)
    try:
        assert await guarded.get("k") is None
        assert await guarded.get("j") is None
        assert guarded.trouble is None  # a miss, not a broken backend
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_lease_is_exclusive_until_released(redis_space: RedisSpace) -> None:
    one, two = RedisBackedCache(redis_space.url), RedisBackedCache(redis_space.url)
    try:
        lease = await one.acquire("k", hold_for=30)
        assert lease is not None
        assert await two.acquire("k", hold_for=30) is None
        await one.release(lease)
        again = await two.acquire("k", hold_for=30)
        assert again is not None
        await two.release(again)
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_lease_expires_on_its_own(redis_space: RedisSpace) -> None:
    cache = RedisBackedCache(redis_space.url)
    try:
        assert await cache.acquire("k", hold_for=0.2) is not None
        client = redis_client()
        try:
            ttl_ms = client.pttl(cache.lease_key("k"))
        finally:
            client.close()
        assert 0 < ttl_ms <= 200  # a holder that dies frees the key without anyone's help
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_release_does_not_free_someone_elses_lease(redis_space: RedisSpace) -> None:
    cache = RedisBackedCache(redis_space.url)
    try:
        assert await cache.acquire("k", hold_for=30) is not None
        await cache.release(Lease("k", "not-the-holder"))
        assert await cache.acquire("k", hold_for=30) is None
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_wait_returns_when_the_holder_releases(redis_space: RedisSpace) -> None:
    holder, waiter = RedisBackedCache(redis_space.url), RedisBackedCache(redis_space.url)
    try:
        lease = await holder.acquire("k", hold_for=60)
        assert lease is not None
        async with redis_monitor() as monitor:
            waiting = asyncio.create_task(waiter.wait("k", within_s=60))
            # The waiter has subscribed and found the lease held: from here only the note ends it.
            await until_command(monitor, "EXISTS", waiter.lease_key("k"))
        await holder.release(lease)
        # Far below the 60 s it would otherwise wait.
        async with asyncio.timeout(10):
            assert await waiting is True
    finally:
        await holder.close()
        await waiter.close()


@pytest.mark.redis
async def test_many_waits_at_once_leave_reads_and_writes_alone(redis_space: RedisSpace) -> None:
    holder, waiter = RedisBackedCache(redis_space.url), RedisBackedCache(redis_space.url)
    guarded = GuardedCache(waiter)
    keys = [f"k{i}" for i in range(150)]  # more than the pool for reads and writes holds
    try:
        leases = [await holder.acquire(key, hold_for=60) for key in keys]
        async with redis_monitor() as monitor:
            waits = [asyncio.create_task(guarded.wait(key, within_s=60)) for key in keys]
            await until_command(monitor, "EXISTS", f"{redis_space.namespace}:lease:", times=len(keys))
        # Every wait is holding a subscribed connection; the cache still reads and writes.
        await guarded.set("other", entry(1), keep_for=60)
        assert await guarded.get("other") == entry(1)
        assert guarded.trouble is None
        for lease in leases:
            assert lease is not None
            await holder.release(lease)
        async with asyncio.timeout(10):
            assert await asyncio.gather(*waits) == [True] * len(keys)
    finally:
        await holder.close()
        await waiter.close()


@pytest.mark.redis
async def test_redis_wait_without_a_holder_returns_at_once(redis_space: RedisSpace) -> None:
    cache = RedisBackedCache(redis_space.url)
    try:
        async with asyncio.timeout(10):
            assert await cache.wait("k", within_s=60) is True
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_wait_is_bounded_when_the_holder_never_releases(redis_space: RedisSpace) -> None:
    holder, waiter = RedisBackedCache(redis_space.url), RedisBackedCache(redis_space.url)
    try:
        assert await holder.acquire("k", hold_for=60) is not None
        async with asyncio.timeout(10):
            assert await waiter.wait("k", within_s=0.1) is False
    finally:
        await holder.close()
        await waiter.close()


@pytest.mark.redis
async def test_redis_clear_only_touches_its_namespace(redis_space: RedisSpace) -> None:
    other = RedisSpace()
    mine, theirs = RedisBackedCache(redis_space.url), RedisBackedCache(other.url)
    try:
        await mine.set("k", entry(1), keep_for=60)
        await theirs.set("k", entry(2), keep_for=60)
        await mine.clear()
        assert await mine.get("k") is None
        assert await theirs.get("k") == entry(2)
    finally:
        await theirs.clear()
        await mine.close()
        await theirs.close()


@pytest.mark.redis
async def test_redis_ping_probes_a_write(redis_space: RedisSpace) -> None:
    cache = RedisBackedCache(redis_space.url)
    try:
        await cache.ping()
    finally:
        await cache.close()
    client = redis_client()
    try:
        assert 0 < client.pttl(f"{redis_space.namespace}:probe") <= 1000  # written, and short-lived
    finally:
        client.close()


async def test_redis_failures_are_cache_trouble() -> None:
    cache = RedisBackedCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        with pytest.raises(CacheTrouble, match="redis get failed: ConnectionError"):
            await cache.get("k")
        with pytest.raises(CacheTrouble, match="redis set failed"):
            await cache.set("k", entry(1), keep_for=60)
        with pytest.raises(CacheTrouble, match="redis lease failed"):
            await cache.acquire("k", 1)
        with pytest.raises(CacheTrouble, match="redis does not answer"):
            await cache.ping()
    finally:
        await cache.close()


# ---------------------------------------------------------------------- guarded


class Broken(Cache):
    """A backend that fails every call until mended, counting the calls it receives."""

    name = "broken"

    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.broken:
            raise CacheTrouble("broken backend: ConnectionError")

    async def get(self, key: str) -> Entry | None:
        self._maybe_fail()
        return None

    async def set(self, key: str, entry: Entry, keep_for: float) -> None:
        self._maybe_fail()

    async def acquire(self, key: str, hold_for: float) -> Lease | None:
        self._maybe_fail()
        return Lease(key, "t")

    async def wait(self, key: str, within_s: float) -> bool:
        self._maybe_fail()
        return True

    async def ping(self) -> None:
        self._maybe_fail()


async def test_guarded_cache_turns_trouble_into_misses_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.cache")
    backend = Broken()
    now = FakeClock(0)
    guarded = GuardedCache(backend, retry_after_s=5, monotonic=now)

    assert await guarded.get("k") is None
    await guarded.set("k", entry(1), keep_for=60)
    assert await guarded.acquire("k", 1) == Lease("k", "")  # fetch directly, share nothing
    assert await guarded.wait("k", 1) is False
    assert guarded.trouble == "broken backend: ConnectionError"
    # Within the retry interval the backend is left alone.
    assert backend.calls == 1
    now.advance(5)
    assert await guarded.get("k") is None
    assert backend.calls == 2

    warnings = [r for r in caplog.records if r.name == "gateway.cache"]
    assert [r.getMessage() for r in warnings] == [
        "cache broken unavailable, going to the upstreams directly: broken backend: ConnectionError"
    ]


async def test_guarded_cache_reports_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.cache")
    backend = Broken()
    guarded = GuardedCache(backend, retry_after_s=3600, monotonic=FakeClock(0))
    assert await guarded.check() == "broken backend: ConnectionError"
    assert await guarded.check() == "broken backend: ConnectionError"  # probes whatever the interval
    backend.broken = False
    assert await guarded.check() is None
    assert guarded.trouble is None
    assert await guarded.acquire("k", 1) == Lease("k", "t")  # used again at once
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.cache"]
    assert len(messages) == 2
    assert messages[1] == "cache broken answers again"
