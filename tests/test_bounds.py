"""No single caller can take the gateway down: hostile queries are refused or answered within the
operation's call budget (``GATEWAY_MAX_UPSTREAM_CALLS``: the fields past it are null with
``UPSTREAM_BUDGET_EXCEEDED``, nothing sent for them, cached or not), other bounds refuse before any
request naming the setting and its value, and memory stays bounded. Over loopback, with counts.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.cache import Entry as CacheEntry
from gateway.cache import MemoryCache
from gateway.emulators.server import LoopbackServer
from gateway.execution import Executor
from gateway.http.view import Entry
from gateway.schema import schema
from gateway.settings import Settings
from tests.cache_support import FakeClock
from tests.conftest import Gateway, GatewayFactory, Upstream, codes, data_of, fixed_today

ARTICLE = "766364"
BREAKDOWN = 'views(startDate: "%s") { countries { country count } }'
ALIAS = 'p%d: project(id: "%d") { classifications { total } }'
ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) "
    "{ ... on ZooniverseProject { classifications { total } } } }"
)
COUNTERS = ("views", "downloads", "shares")
SINGLE = '{ zooniverse { project(id: "%d") { classifications { total } } } }'


def aliases(count: int) -> str:
    return "{ zooniverse { %s } }" % " ".join(ALIAS % (i, i) for i in range(1, count + 1))


def representations(count: int) -> dict[str, Any]:
    return {"r": [{"__typename": "ZooniverseProject", "id": str(i)} for i in range(1, count + 1)]}


def refused_paths(result: dict[str, Any], budget: int = 50) -> list[list[Any]]:
    """The paths of the fields refused for the budget; every error must be such a refusal."""
    for error in result["errors"]:
        assert error["extensions"]["code"] == "UPSTREAM_BUDGET_EXCEEDED", error
        assert error["extensions"]["budget"] == budget
        assert "GATEWAY_MAX_UPSTREAM_CALLS" in error["message"]
    return [e["path"] for e in result["errors"]]


def only_error(result: dict[str, Any], code: str) -> str:
    (error,) = result["errors"]
    assert error["extensions"]["code"] == code, error
    message: str = error["message"]
    return message


@pytest.mark.parametrize("fill", ["true", "false"])
@pytest.mark.parametrize(
    "query",
    [
        '{ zooniverse { classifications(startDate: "0070-06-04", endDate: "9173-01-04") '
        "{ series(period: DAY, fillGaps: %s) { start count } } } }",
        '{ figshare { article(id: "766364") { views(startDate: "0070-06-04", endDate: "9173-01-04") '
        "{ series(period: DAY, fillGaps: %s) { start count } } } } }",
    ],
    ids=["eras", "figshare"],
)
def test_a_thousand_year_daily_series_is_refused_before_any_request(
    gateway: Gateway, eras: Upstream, figshare: Upstream, query: str, fill: str
) -> None:
    message = only_error(gateway.query(query % fill), "BAD_USER_INPUT")
    assert "GATEWAY_MAX_SERIES_POINTS" in message
    assert "at most 10000" in message
    assert len(eras.log) == len(figshare.log) == 0


def test_a_series_without_a_start_to_a_far_end_is_refused_before_any_request(
    gateway: Gateway, eras: Upstream
) -> None:
    """Its first bucket can be no later than today's, so the days from today on are already too many."""
    query = '{ zooniverse { classifications(endDate: "9173-01-04") { series(period: DAY) { start } } } }'
    assert "GATEWAY_MAX_SERIES_POINTS" in only_error(gateway.query(query), "BAD_USER_INPUT")
    assert len(eras.log) == 0


def test_the_series_bound_is_the_setting_and_a_series_within_it_is_answered(
    make_gateway: GatewayFactory, eras: Upstream
) -> None:
    gateway = make_gateway(max_series_points=12)
    series = '{ zooniverse { classifications(startDate: "%s", endDate: "2025-12-31") { series(period: MONTH, fillGaps: true) { start } } } }'
    message = only_error(gateway.query(series % "2024-12-01"), "BAD_USER_INPUT")
    assert "13 month buckets" in message
    assert "at most 12" in message
    assert len(eras.log) == 0
    answer = data_of(gateway.query(series % "2025-01-01"))
    assert len(answer["zooniverse"]["classifications"]["series"]) == 12
    assert len(eras.log) == 1


def test_countries_from_year_one_is_refused_whole_and_its_siblings_keep_their_data(
    gateway: Gateway, figshare: Upstream
) -> None:
    query = '{ figshare { article(id: "%s") { downloads { total } %s } } }' % (
        ARTICLE,
        BREAKDOWN % "0001-01-01",
    )
    result = gateway.query(query)
    assert refused_paths(result) == [["figshare", "article", "views", "countries"]]
    assert "needs 51 more" in result["errors"][0]["message"]  # counted as planned, not all 2,026 parts
    assert result["data"]["figshare"]["article"]["downloads"]["total"] > 0
    assert len(figshare.log) == 1  # the total; nothing for the breakdown


def test_three_breakdown_aliases_from_year_one_send_nothing(gateway: Gateway, figshare: Upstream) -> None:
    fields = " ".join(f"{a}: {BREAKDOWN % '0001-01-01'}" for a in "abc")
    result = gateway.query('{ figshare { article(id: "%s") { %s } } }' % (ARTICLE, fields))
    assert refused_paths(result) == [["figshare", "article", a, "countries"] for a in "abc"]
    assert len(figshare.log) == 0


def test_breakdowns_that_fit_the_budget_one_at_a_time_are_answered_until_it_is_spent(
    gateway: Gateway, figshare: Upstream
) -> None:
    # 2000-01-01 to today is 27 one-year parts: the first counter fits, the next two would not.
    fields = " ".join(f'{c}(startDate: "2000-01-01") {{ countries {{ country }} }}' for c in COUNTERS)
    result = gateway.query('{ figshare { article(id: "%s") { %s } } }' % (ARTICLE, fields))
    assert refused_paths(result) == [["figshare", "article", c, "countries"] for c in COUNTERS[1:]]
    assert result["data"]["figshare"]["article"]["views"]["countries"]
    assert len(figshare.log) == 27
    figshare.log.clear()  # the same parts asked by several aliases are made once, and counted once
    same = " ".join(f"{a}: {BREAKDOWN % '2000-01-01'}" for a in "abc")
    data_of(gateway.query('{ figshare { article(id: "%s") { %s } } }' % (ARTICLE, same)))
    assert len(figshare.log) == 27


def test_five_thousand_entities_are_refused_naming_the_limit(gateway: Gateway, eras: Upstream) -> None:
    message = only_error(gateway.query(ENTITIES, representations(5000)), "BAD_USER_INPUT")
    assert "5000 representations" in message
    assert "at most 100" in message
    assert "GATEWAY_MAX_ENTITIES" in message
    assert len(eras.log) == 0


@pytest.mark.parametrize(
    ("query", "variables", "prefix"),
    [
        (aliases(60), None, ["zooniverse"]),
        (aliases(200), None, ["zooniverse"]),
        (ENTITIES, representations(100), ["_entities"]),
    ],
    ids=["60-aliases", "200-aliases", "100-entities"],
)
def test_many_fields_of_one_request_each_are_answered_up_to_the_budget(
    gateway: Gateway, eras: Upstream, query: str, variables: dict[str, Any] | None, prefix: list[Any]
) -> None:
    result = gateway.query(query, variables)
    count = 100 if variables else len(result["data"]["zooniverse"])
    names: list[Any] = list(range(count)) if variables else [f"p{i}" for i in range(1, count + 1)]
    assert refused_paths(result) == [[*prefix, name, "classifications"] for name in names[50:]]
    fields = result["data"]["_entities"] if variables else list(result["data"]["zooniverse"].values())
    assert all(f["classifications"]["total"] >= 0 for f in fields[:50])
    assert all(f["classifications"] is None for f in fields[50:])
    assert len(eras.log) == 50


def test_two_hundred_and_one_aliases_are_refused_before_any_request(gateway: Gateway, eras: Upstream) -> None:
    message = only_error(gateway.query(aliases(201)), "GRAPHQL_VALIDATION_FAILED")
    assert "more than 200 aliases" in message
    assert "GATEWAY_MAX_ALIASES" in message
    assert len(eras.log) == 0


def test_the_budget_is_the_setting(make_gateway: GatewayFactory, eras: Upstream) -> None:
    result = make_gateway(max_upstream_calls=5).query(aliases(6))
    assert refused_paths(result, budget=5) == [["zooniverse", "p6", "classifications"]]  # "budget of 5"
    assert len(eras.log) == 5


@pytest.mark.parametrize(
    ("query", "variables"),
    [(aliases(60), None), (ENTITIES, representations(100))],
    ids=["aliases", "entities"],
)
def test_the_same_operation_is_refused_the_same_way_whether_or_not_its_answers_are_cached(
    make_gateway: GatewayFactory, eras: Upstream, query: str, variables: dict[str, Any] | None
) -> None:
    cold = make_gateway().query(query, variables)
    warm = make_gateway(cache_url="memory://")
    for project in range(1, 101):  # every request the operation needs, cached one by one
        data_of(warm.query(SINGLE % project))
    eras.log.clear()
    assert warm.query(query, variables) == cold
    assert warm.query(query, variables) == cold  # and again: refusals are never cached answers
    assert len(eras.log) == 0


async def test_a_hostile_query_leaves_a_normal_query_and_healthz_answered(
    gateway: Gateway, eras: Upstream, figshare: Upstream
) -> None:
    eras.faults.inject(r"^/classifications$", delay_s=0.2)  # the hostile query's requests are slow
    normal = '{ figshare { article(id: "%s") { views { total } } } }' % ARTICLE
    expected = data_of(gateway.query(normal))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60, trust_env=False) as client:
        hostile, answer, health = await asyncio.gather(
            client.post("/graphql", json={"query": aliases(200)}),
            client.post("/graphql", json={"query": normal}),
            client.get("/healthz"),
        )
    assert len(refused_paths(hostile.json())) == 150
    assert data_of(answer.json()) == expected
    assert health.json() == {"status": "ok"}
    assert len(eras.log) == 50


def test_query_bytes_and_tokens_are_bounded_naming_the_setting(
    make_gateway: GatewayFactory, eras: Upstream
) -> None:
    gateway = make_gateway(max_query_bytes=2000, max_query_tokens=300)
    padded = "{ zooniverse { project(id: 1) { id } } }" + " " * 2000
    response = gateway.post(padded)
    assert response.status_code == 413
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert "longer than 2000 bytes (GATEWAY_MAX_QUERY_BYTES)" in response.json()["errors"][0]["message"]
    tokens = "{ zooniverse {" + " a" * 400 + " } }"  # 800 bytes
    message = only_error(gateway.query(tokens), "GRAPHQL_PARSE_FAILED")
    assert "more than 300 tokens (GATEWAY_MAX_QUERY_TOKENS)" in message
    deep = make_gateway(max_depth=3).query(
        '{ zooniverse { project(id: "1") { classifications { total } } } }'
    )
    assert "at most 3 are allowed (GATEWAY_MAX_DEPTH)" in only_error(deep, "GRAPHQL_VALIDATION_FAILED")
    assert len(eras.log) == 0


def test_at_most_max_in_flight_requests_reach_an_upstream_and_the_rest_wait_within_their_deadline(
    make_gateway: GatewayFactory, eras: Upstream
) -> None:
    eras.faults.inject("/", hang=True)  # nothing answers: every request sent stays in flight
    gateway = make_gateway(upstream_max_in_flight=2, upstream_timeout_s=0.5, upstream_retries=0)
    result = gateway.query(aliases(5))
    first, second, *later = sorted(r.at for r in eras.log.requests)
    # Two went out at once; the others waited for a slot. Each request sent hangs until its call's
    # deadline (0.5 s), so a slot came free only then, as the waiting calls' own deadlines (a few
    # ms later at most) were running out: most often none is sent, at most one or two were.
    assert second - first < 0.25
    assert all(at - first >= 0.45 for at in later)
    assert len(later) <= 2
    assert result["data"]["zooniverse"] == {f"p{i}": {"classifications": None} for i in range(1, 6)}
    assert sorted(codes(result)) == ["UPSTREAM_TIMEOUT"] * 5


async def test_the_memory_cache_never_holds_more_bytes_than_its_bound() -> None:
    clock = FakeClock()
    cache, sizes = MemoryCache(1000, clock, max_bytes=10_000), {}
    for i in range(60):
        key, entry = f"k{i}", CacheEntry(b"x" * (200 + 37 * i), clock(), ttl=10)
        sizes[key] = entry.size(key)
        await cache.set(key, entry, keep_for=1000)
        assert cache.bytes <= 10_000
    clock.advance(100)  # every entry expired; kept for stale answers, they still count
    held = {k: e for k in sizes if (e := await cache.get(k)) is not None}
    assert not any(e.fresh(clock()) for e in held.values())
    assert (cache.bytes, len(cache)) == (sum(sizes[k] for k in held), len(held))
    await cache.set("big", CacheEntry(b"x" * 10_001, clock(), ttl=10), keep_for=10)
    assert await cache.get("big") is None  # larger than the whole cache: not kept


def test_documents_kept_parsed_for_reuse_are_bounded_in_memory() -> None:
    # Valid and within every limit (7 KB, 2,400 tokens): a client sending distinct ones must not
    # grow the process without bound (a parsed document keeps ~140 bytes per token of its text).
    executor, ids = Executor(schema), " ".join(["12"] * 2400)  # as the services make it
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(12):
            executor.prepare(
                f"# {i}\n{{ zooniverse {{ classifications(projectIds: [{ids}]) {{ total }} }} }}"
            )
        gc.collect()  # a document's tokens link to each other: what is not kept is freed by the collector
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4 * 2**20, f"{kept / 2**20:.1f} MiB kept for 12 documents"


def test_many_distinct_small_documents_are_kept_within_the_bound_on_their_text() -> None:
    # 600 documents of 530 characters, 310 KiB of text in all: the cache keeps 128 KiB of it.
    executor = Executor(schema)
    aliases_doc = " ".join(ALIAS % (i, i) for i in range(1, 11))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(600):
            executor.prepare(f"# {n:04}\n{{ zooniverse {{ {aliases_doc} }} }}")
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert executor.prepare.cache_info().currsize < 600
    assert kept < 16 * 2**20, f"{kept / 2**20:.1f} MiB kept for 600 documents"


def test_the_gateway_cache_stays_within_its_bytes_with_fresh_and_stale_answers(
    eras: Upstream, figshare: Upstream
) -> None:
    clock, bound = FakeClock(), 48 * 1024
    settings = Settings(
        eras_url=eras.url,
        figshare_url=figshare.url,
        cache_url="memory://",
        cache_secret="t",
        cache_max_bytes=bound,
    )
    app = create_app(settings, today=fixed_today, clock=clock)
    assert isinstance(app, Entry)
    gateway = Gateway(LoopbackServer(app).start())
    try:
        gateway.http.get("/healthz")  # served once the lifespan has started the services
        cache = app.view.services().cache.inner
        assert isinstance(cache, MemoryCache)
        month = '{ zooniverse { project(id: "%d") { classifications(startDate: "2025-%02d-01", endDate: "2025-%02d-28") { series(period: DAY) { start count } } } } }'
        asked = [month % (p, m, m) for p in (1234, 335, 1613) for m in range(1, 13)]
        for query in asked:
            data_of(gateway.query(query))
            assert cache.bytes <= bound
        assert len(eras.log) == len(asked)
        assert bound / 2 < cache.bytes
        assert len(cache) < 2 * len(asked)
        held = cache.bytes, len(cache)
        clock.advance(86_400 * 1.5)  # past their lifetime, within the stale window: still counted
        assert (cache.bytes, len(cache)) == held
        eras.faults.inject("/classifications", status=503)
        stale = gateway.query(asked[-1])
        assert stale["extensions"]["stale"]
        assert data_of(stale)
        eras.faults.clear()
        for query in (month % (p, m, m) for p in (1783, 1952) for m in range(1, 13)):
            data_of(gateway.query(query))
            assert cache.bytes <= bound
    finally:
        gateway.close()
