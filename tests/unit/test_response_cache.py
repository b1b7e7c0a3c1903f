"""gateway/response_cache.py: what a kept answer is keyed by, and who is served it, on a memory cache
whose clock is moved by hand."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import PUBLIC_SCOPE
from gateway.cache import GuardedCache, MemoryCache
from gateway.http.response_cache import Kept, ResponseCache, etag_of
from tests.cache_support import FakeClock

QUERY = '{ figshare { article(id: "1") { views { total } } } }'
ALICE, BOB = "cred:" + "a" * 64, "cred:" + "b" * 64
BODY = b'{"data":{"figshare":null}}'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory(clock: FakeClock) -> MemoryCache:
    return MemoryCache(100, clock)


@pytest.fixture
def cache(memory: MemoryCache) -> ResponseCache:
    return ResponseCache(GuardedCache(memory))


async def store(cache: ResponseCache, scope: str, *, consulted: bool, ttl: float = 60, **key: Any) -> None:
    await cache.store(
        ResponseCache.slot(key.get("query", QUERY), key.get("name"), key.get("variables"), scope),
        body=BODY,
        etag=etag_of(BODY),
        ttl=ttl,
        consulted_credentials=consulted,
    )


async def lookup(cache: ResponseCache, scope: str, **key: Any) -> Kept | None:
    return await cache.lookup(
        ResponseCache.slot(key.get("query", QUERY), key.get("name"), key.get("variables"), scope)
    )


# ---------------------------------------------------------------------- keys


def test_keys_cover_document_operation_variables_and_scope() -> None:
    key = ResponseCache.key(QUERY, "Q", {"id": "1"}, PUBLIC_SCOPE)
    assert key.startswith("resp:v2:")
    others = {
        ResponseCache.key(QUERY + " ", "Q", {"id": "1"}, PUBLIC_SCOPE),
        ResponseCache.key(QUERY, "R", {"id": "1"}, PUBLIC_SCOPE),
        ResponseCache.key(QUERY, None, {"id": "1"}, PUBLIC_SCOPE),
        ResponseCache.key(QUERY, "Q", {"id": 1}, PUBLIC_SCOPE),
        ResponseCache.key(QUERY, "Q", {"id": "1"}, ALICE),
    }
    assert key not in others
    assert len(others) == 5


def test_variables_are_keyed_whatever_their_order() -> None:
    one = ResponseCache.key(QUERY, None, {"a": 1, "b": {"y": 2, "x": [3, 4]}}, PUBLIC_SCOPE)
    assert one == ResponseCache.key(QUERY, None, {"b": {"x": [3, 4], "y": 2}, "a": 1}, PUBLIC_SCOPE)
    assert one != ResponseCache.key(QUERY, None, {"a": 1, "b": {"y": 2, "x": [4, 3]}}, PUBLIC_SCOPE)
    assert ResponseCache.key(QUERY, None, None, PUBLIC_SCOPE) == ResponseCache.key(
        QUERY, None, {}, PUBLIC_SCOPE
    )


def test_keys_hold_no_credential_scope_in_clear() -> None:
    assert ALICE not in ResponseCache.key(QUERY, None, None, ALICE)


# ---------------------------------------------------------------------- who is served


async def test_an_answer_that_consulted_no_credential_is_served_to_everyone(cache: ResponseCache) -> None:
    await store(cache, ALICE, consulted=False)  # stored by a caller who carried credentials
    for scope in (PUBLIC_SCOPE, ALICE, BOB):
        assert await lookup(cache, scope) == Kept(BODY, etag_of(BODY), 60, private=False)


async def test_an_answer_that_consulted_credentials_is_kept_for_that_caller_alone(
    cache: ResponseCache,
) -> None:
    await store(cache, ALICE, consulted=True)
    assert await lookup(cache, ALICE) == Kept(BODY, etag_of(BODY), 60, private=True)
    assert await lookup(cache, BOB) is None
    assert await lookup(cache, PUBLIC_SCOPE) is None


async def test_an_anonymous_answer_that_consulted_credentials_is_for_anonymous_callers(
    cache: ResponseCache,
) -> None:
    """Made for a caller without credentials by fields that looked for some (a group's stats, of
    which ERAS shows members more): kept for callers without credentials only."""
    await store(cache, PUBLIC_SCOPE, consulted=True)
    assert await lookup(cache, PUBLIC_SCOPE) == Kept(BODY, etag_of(BODY), 60, private=False)
    assert await lookup(cache, ALICE) is None


async def test_another_document_operation_or_variables_is_another_answer(cache: ResponseCache) -> None:
    await store(cache, PUBLIC_SCOPE, consulted=False, name="Q", variables={"a": 1, "b": 2})
    assert await lookup(cache, PUBLIC_SCOPE, name="Q", variables={"b": 2, "a": 1}) is not None
    assert await lookup(cache, PUBLIC_SCOPE, name="Q", variables={"a": 1}) is None
    assert await lookup(cache, PUBLIC_SCOPE, name=None, variables={"a": 1, "b": 2}) is None
    assert await lookup(cache, PUBLIC_SCOPE, query=QUERY + "\n", name="Q", variables={"a": 1, "b": 2}) is None


# ---------------------------------------------------------------------- lifetimes


async def test_a_kept_answer_ages_and_expires_with_the_clock(cache: ResponseCache, clock: FakeClock) -> None:
    await store(cache, PUBLIC_SCOPE, consulted=False, ttl=60)
    clock.advance(45.5)
    kept = await lookup(cache, PUBLIC_SCOPE)
    assert kept is not None
    assert (kept.max_age, kept.age) == (14, 45)
    clock.advance(14.5)
    assert await lookup(cache, PUBLIC_SCOPE) is None


async def test_nothing_is_kept_without_a_lifetime(cache: ResponseCache, memory: MemoryCache) -> None:
    await store(cache, PUBLIC_SCOPE, consulted=False, ttl=0)
    await store(cache, ALICE, consulted=True, ttl=-1)
    assert await lookup(cache, PUBLIC_SCOPE) is None
    assert await lookup(cache, ALICE) is None
    assert len(memory) == 0


def test_etags_are_quoted_digests_of_the_bytes() -> None:
    assert etag_of(BODY) == etag_of(bytes(BODY))
    assert etag_of(BODY) != etag_of(BODY + b" ")
    assert etag_of(BODY).startswith('"')
    assert etag_of(BODY).endswith('"')
    assert len(etag_of(BODY)) == 34
