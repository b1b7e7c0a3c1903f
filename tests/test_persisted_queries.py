"""Automatic persisted queries over HTTP: where a registered hash lives, and how GET answers by hash
may be cached. (Apollo Client's own use of them is in test_examples.py.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.cache_support import GatewayProcess, RedisSpace
from tests.conftest import GatewayFactory

pytest_plugins = ("tests.cache_fixtures",)

SETTLED = (
    '{ figshare { article(id: "766364") { views(startDate: "2026-01-01", endDate: "2026-01-31") '
    "{ total } } } }"
)


def by_hash(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


@pytest.mark.redis
def test_a_hash_registered_with_one_replica_is_known_to_another_sharing_redis(
    gateway_processes: Callable[..., list[GatewayProcess]], figshare: Any, redis_space: RedisSpace
) -> None:
    # No response cache, so that the second replica executes the query itself.
    env = redis_space.replica_env(figshare.url, GATEWAY_RESPONSE_CACHE="false")
    one, two = gateway_processes(env, count=2)
    with httpx.Client(timeout=30, trust_env=False) as client:
        unknown = client.post(f"{two.url}/graphql", json={"extensions": by_hash(SETTLED)}).json()
        registered = client.post(
            f"{one.url}/graphql", json={"query": SETTLED, "extensions": by_hash(SETTLED)}
        )
        known = client.post(f"{two.url}/graphql", json={"extensions": by_hash(SETTLED)})
    assert [e["extensions"]["code"] for e in unknown["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered.status_code == known.status_code == 200
    assert "errors" not in known.json(), known.text
    assert known.json()["data"] == registered.json()["data"]
    assert len(figshare.log) == 1  # the second replica's answer came from the shared upstream cache


def test_a_get_by_hash_is_cacheable_as_the_post_with_the_query_is(
    make_gateway: GatewayFactory, figshare: Any
) -> None:
    gateway = make_gateway(cache_url="memory://", response_cache=False)
    posted = gateway.http.post("/graphql", json={"query": SETTLED, "extensions": by_hash(SETTLED)})
    got = gateway.http.get("/graphql", params={"extensions": json.dumps(by_hash(SETTLED))})
    assert posted.status_code == got.status_code == 200
    assert got.json() == posted.json()
    assert got.headers["cache-control"].startswith("public, max-age=")
    assert int(got.headers["cache-control"].split("=")[1]) > 0
    assert got.headers["etag"] == posted.headers["etag"]
    again = gateway.http.get(
        "/graphql",
        params={"extensions": json.dumps(by_hash(SETTLED))},
        headers={"If-None-Match": got.headers["etag"]},
    )
    assert again.status_code == 304
    assert len(figshare.log) == 1
