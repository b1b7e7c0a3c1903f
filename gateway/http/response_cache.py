"""Whole-operation answers, kept in front of parse/validate/execute.

Keyed by the document's hash, the operation name, the variables and the caller's credential scope
(an HMAC of what the caller carries, as for upstream answers): an answer that needed no credential
is shared by every caller; one whose fields consulted the caller's credentials is kept for that
caller alone (or for callers carrying none). It lives as long as the shortest-lived upstream
answer it was made from. Answers with errors, stale answers and traced requests are never kept.
The encoded bytes are kept, with their ETag, in the configured cache backend, so replicas that
share Redis share them.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth import PUBLIC_SCOPE
from gateway.cache import Entry, GuardedCache

SHARED, CALLERS, PRIVATE = "shared", "callers", "private"  # who may be served a kept answer


@dataclass(frozen=True, slots=True)
class Kept:
    """An answer from the cache: its bytes, ETag, remaining lifetime and whether it is private."""

    body: bytes
    etag: str
    max_age: int
    private: bool
    age: int = 0  # seconds since it was made (HTTP's Age header)


# Not frozen (one per request; frozen sets each field through object.__setattr__). Never changed.
@dataclass(slots=True)
class Slot:
    """Where one request's answer is kept: its operation (document, name, variables) and the
    caller's scope. Made once per request; its keys serve both the lookup and the store."""

    operation: bytes  # a digest of the document, the operation name and the variables
    scope: str
    _own_key: str = ""  # the caller's own key, made on first use: asked by the lookup and the store

    def key(self, scope: str) -> str:
        if scope == PUBLIC_SCOPE:
            return _public_key(self.operation)  # asked on every lookup: kept per operation
        if scope != self.scope:
            return _key(self.operation, scope)
        if not self._own_key:
            self._own_key = _key(self.operation, scope)
        return self._own_key


class ResponseCache:
    def __init__(self, cache: GuardedCache) -> None:
        self.cache = cache

    @staticmethod
    def slot(query: str, operation_name: str | None, variables: dict[str, Any] | None, scope: str) -> Slot:
        material = b"\0".join(
            (
                _document_digest(query),
                (operation_name or "").encode(),
                orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
            )
        )
        return Slot(hashlib.sha256(material).digest(), scope)

    @classmethod
    def key(cls, query: str, operation_name: str | None, variables: dict[str, Any] | None, scope: str) -> str:
        return cls.slot(query, operation_name, variables, scope).key(scope)

    async def lookup(self, slot: Slot) -> Kept | None:
        """The kept answer this caller may be served, if any."""
        found = await self._fresh(slot.key(slot.scope))
        if found is None and slot.scope != PUBLIC_SCOPE:
            # An answer that consulted no credential is the same for every caller.
            shared = await self._fresh(slot.key(PUBLIC_SCOPE))
            if shared is not None and shared[0].tag.startswith(SHARED):
                found = shared
        if found is None:
            return None
        entry, now = found
        who, _, etag = entry.tag.partition(" ")
        return Kept(
            entry.value, etag, int(entry.remaining(now)), private=who == PRIVATE, age=int(entry.age(now))
        )

    async def _fresh(self, key: str) -> tuple[Entry, float] | None:
        entry = await self.cache.get(key)
        if entry is None:
            return None
        now = self.cache.clock()
        return (entry, now) if entry.fresh(now) else None

    async def store(
        self, slot: Slot, *, body: bytes, etag: str, ttl: float, consulted_credentials: bool
    ) -> None:
        if ttl <= 0:
            return
        scope = slot.scope
        if not consulted_credentials:
            who, scope = SHARED, PUBLIC_SCOPE
        else:
            who = CALLERS if scope == PUBLIC_SCOPE else PRIVATE
        entry = Entry(body, self.cache.clock(), ttl, f"{who} {etag}")
        await self.cache.set(slot.key(scope), entry, keep_for=ttl)


def _key(operation: bytes, scope: str) -> str:
    return f"resp:v2:{hashlib.sha256(operation + scope.encode()).hexdigest()}"


@functools.lru_cache(maxsize=1024)
def _public_key(operation: bytes) -> str:
    return _key(operation, PUBLIC_SCOPE)


# The same few documents come back with every request: their digests are kept.
@functools.lru_cache(maxsize=1024)
def _document_digest(query: str) -> bytes:
    return hashlib.sha256(query.encode()).digest()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
