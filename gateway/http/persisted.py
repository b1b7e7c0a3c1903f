"""Automatic persisted queries (Apollo's protocol): a client may send a query's SHA-256 instead of it.

``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}``. A hash alone is looked up;
an unknown one is answered ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200), and the client sends it again
with its query, which registers it once its hash is checked. Queries are kept in the configured
cache backend (shared by replicas through Redis), or in the process when caching is off.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gateway.cache import Entry, GuardedCache, MemoryCache
from gateway.http.params import GraphQLParams, RequestError

KEEP_S = 7 * 86_400
_HASH = re.compile(r"\A[0-9a-f]{64}\Z")


class PersistedQueryNotFound(Exception):
    """The hash is not registered: the client should send the query with it."""


class PersistedQueries:
    def __init__(self, cache: GuardedCache) -> None:
        # With caching off, registered queries are still kept in the process.
        self.cache = cache if cache.name != "none" else GuardedCache(MemoryCache(10_000, cache.clock))

    async def resolve(self, params: GraphQLParams) -> str | None:
        """The query text to run: the one sent, or the one registered under the hash sent."""
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is None:
            return params.query
        digest = _checked(persisted)
        key = f"apq:v1:{digest}"
        if params.query is None:
            entry = await self.cache.get(key)
            if entry is None:
                raise PersistedQueryNotFound
            return entry.value.decode()
        if hashlib.sha256(params.query.encode()).hexdigest() != digest:
            raise RequestError(400, "provided sha does not match query")
        await self.cache.set(key, Entry(params.query.encode(), self.cache.clock(), KEEP_S), keep_for=KEEP_S)
        return params.query


def _checked(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise RequestError(400, "Unsupported persisted query version: send {version: 1, sha256Hash}.")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.match(digest.lower()):
        raise RequestError(400, "persistedQuery.sha256Hash must be the query's SHA-256 in hex.")
    return digest.lower()
