"""The loaders in gateway/resolvers/: the ERAS planner, and what the loaders send for the needs of one turn."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from gateway.auth import CallerCredentials, Credential
from gateway.errors import Unauthenticated, UpstreamUnavailable
from gateway.resolvers import operation_loader
from gateway.resolvers.figshare import ArticleCountLoader
from gateway.resolvers.zooniverse import COUNT, RECENTS, ErasLoader, Need, plan
from gateway.upstream.calls import CallLog
from gateway.upstream.eras import ErasAPI, ErasFlags, ErasQuery, ErasRoute
from gateway.upstream.figshare import FigshareAPI
from tests.unit.wire import Wire
from tests.upstream_support import data_source, make_upstream

TOKEN = "Bearer volunteer-token"

# ---------------------------------------------------------------------- the plan alone


def test_user_fields_merge_into_one_request() -> None:
    needs = [Need(), Need(time_spent=True), Need(period="day", time_spent=True), Need(contributions=COUNT)]
    requests, serving = plan(ErasRoute.USER, tuple(needs))
    assert list(requests) == [ErasFlags(period="day", time_spent=True, project_contributions=True)]
    assert list(serving) == [0, 0, 0, 0]


def test_each_extra_period_is_one_more_request() -> None:
    requests, serving = plan(ErasRoute.CLASSIFICATIONS, (Need(period="day"), Need(period="month"), Need()))
    assert [r.period for r in requests] == ["day", "month"]
    assert list(serving) == [0, 1, 0]


def test_recents_prefers_daily_buckets() -> None:
    requests, serving = plan(ErasRoute.USER, (Need(period="month"), Need(contributions=RECENTS)))
    assert list(requests) == [ErasFlags(period="month", project_contributions=True, order_by_recents=True)]
    requests, _ = plan(ErasRoute.USER, (Need(contributions=RECENTS),))
    assert list(requests) == [ErasFlags(period="day", project_contributions=True, order_by_recents=True)]
    requests, serving = plan(ErasRoute.USER, (Need(contributions=COUNT), Need(contributions=RECENTS)))
    assert len(requests) == 2
    assert sorted(r.order_by_recents for r in requests) == [False, True]
    assert serving[0] != serving[1]


def test_groups_take_the_largest_top_and_no_flags() -> None:
    needs = [Need(top=3), Need(top=10), Need(contributions=COUNT), Need(time_spent=False)]
    requests, serving = plan(ErasRoute.USER_GROUP, tuple(needs))
    assert list(requests) == [ErasFlags(top_contributors=10)]
    assert list(serving) == [0, 0, 0, 0]


def test_public_routes_never_carry_user_flags() -> None:
    requests, _ = plan(ErasRoute.COMMENTS, (Need(time_spent=True), Need(contributions=COUNT), Need(top=5)))
    assert list(requests) == [ErasFlags()]


# ---------------------------------------------------------------------- ERAS needs of one turn


def eras_answer(request: httpx.Request) -> bytes:
    """Every answer counts as many as the characters of its query, so each is told apart."""
    query = request.url.query
    data = [{"period": "2026-11-16T00:00:00.000Z", "count": 1}] if b"period" in query else None
    return orjson.dumps({"total_count": len(query), **({"data": data} if data else {})})


async def test_two_stats_objects_needs_in_one_turn_make_the_planned_requests() -> None:
    wire = Wire(eras_answer)
    calls = CallLog()
    api: ErasAPI = data_source(make_upstream("ERAS", wire), calls, CallerCredentials(eras=Credential(TOKEN)))
    loader = ErasLoader(api)
    project = ErasQuery(ErasRoute.CLASSIFICATIONS, project_ids=("1234",))
    user = ErasQuery(ErasRoute.USER, subject_id="1325")
    asks = [
        (project, Need(), ("zooniverse", "a", "total")),
        (project, Need(period="day"), ("zooniverse", "a", "series")),
        (project, Need(period="month"), ("zooniverse", "a", "monthly")),
        (user, Need(time_spent=True), ("zooniverse", "user", "b", "timeSpent")),
        (user, Need(contributions=COUNT), ("zooniverse", "user", "b", "projectContributions")),
    ]
    answers = await asyncio.gather(*(loader.counts(q, need, path) for q, need, path in asks))
    targets = sorted(r.url.raw_path.decode() for r in wire.requests)
    assert targets == [
        "/classifications/users/1325?time_spent=true&project_contributions=true",
        "/classifications?project_id=1234&period=day",
        "/classifications?project_id=1234&period=month",
    ]
    # Each need is answered from the request that carries it.
    total, day, month, spent, contributed = (a.total for a in answers)
    assert total == day == len(b"project_id=1234&period=day")
    assert month == len(b"project_id=1234&period=month")
    assert spent == contributed == len(b"time_spent=true&project_contributions=true")
    assert sorted(map(len, calls.paths.values())) == [1, 2, 2]


async def test_a_query_refused_before_sending_fails_only_its_own_needs() -> None:
    wire = Wire(eras_answer)
    api: ErasAPI = data_source(make_upstream("ERAS", wire))  # no token
    loader = ErasLoader(api)
    public = loader.counts(ErasQuery(ErasRoute.COMMENTS), Need())
    private = loader.counts(ErasQuery(ErasRoute.USER, subject_id="1325"), Need(time_spent=True))
    fine, refused = await asyncio.gather(public, private, return_exceptions=True)
    assert not isinstance(fine, BaseException)
    assert fine.total == 0
    assert isinstance(refused, Unauthenticated)
    assert [r.url.raw_path for r in wire.requests] == [b"/comments"]


# ---------------------------------------------------------------------- Figshare article counts


async def test_every_article_count_of_a_turn_is_one_post() -> None:
    wire = Wire(orjson.dumps({"327": 12, "328": 4}))
    calls = CallLog()
    api: FigshareAPI = data_source(make_upstream("FIGSHARE", wire), calls)
    loader = ArticleCountLoader(api)
    asks = [("328", ("figshare", "b")), ("327", ("figshare", "a")), ("99", ()), ("327", ("figshare", "c"))]
    counts = await asyncio.gather(*(loader.count(group, path) for group, path in asks))
    assert counts == [4, 12, 0, 12]  # a group the upstream does not list has no public articles
    [request] = wire.requests
    assert (request.method, request.url.raw_path) == ("POST", b"/count/articles")
    assert request.content == b'{"groups":[{"id":99},{"id":327},{"id":328}]}'
    assert list(calls.paths.values()) == [[["figshare", "b"], ["figshare", "a"], ["figshare", "c"]]]


async def test_a_failed_post_fails_every_count_of_its_turn() -> None:
    loader = ArticleCountLoader(data_source(make_upstream("FIGSHARE", Wire(b"", 500))))
    counts = await asyncio.gather(loader.count("327"), loader.count("328"), return_exceptions=True)
    assert all(isinstance(c, UpstreamUnavailable) for c in counts)
    assert counts[0] is counts[1]


async def test_a_later_turn_asking_again_is_answered_from_the_operations_memo() -> None:
    wire = Wire(orjson.dumps({"327": 1}))
    loader = ArticleCountLoader(data_source(make_upstream("FIGSHARE", wire)))
    assert await loader.count("327") == 1
    assert await loader.count("327") == 1  # the loader keeps nothing; the operation's memo does
    assert len(wire.requests) == 1


# ---------------------------------------------------------------------- when a batch is sent


async def test_a_batch_is_sent_at_the_turn_after_its_first_key() -> None:
    batches: list[list[str]] = []

    async def load(_: None, keys: list[str]) -> list[str]:
        batches.append(list(keys))
        return [k.upper() for k in keys]

    loader = operation_loader(load, None)
    first, second = loader.load("a"), loader.load("b")
    assert batches == []  # the rest of this turn may still ask
    await asyncio.sleep(0)  # one turn
    assert batches == [["a", "b"]]
    third = loader.load("c")  # a later turn: a batch of its own
    assert await asyncio.gather(first, second, third) == ["A", "B", "C"]
    assert batches == [["a", "b"], ["c"]]


async def test_a_settling_batch_waits_for_a_turn_without_new_keys() -> None:
    batches: list[list[str]] = []

    async def load(_: None, keys: list[str]) -> list[str]:
        batches.append(list(keys))
        return keys

    loader = operation_loader(load, None, settle=True)
    asked = [loader.load("a")]
    for key in ("b", "c"):  # fields reached a turn apart, as graphql-core's gathered siblings are
        await asyncio.sleep(0)
        asked.append(loader.load(key))
    assert await asyncio.gather(*asked) == ["a", "b", "c"]
    assert batches == [["a", "b", "c"]]
