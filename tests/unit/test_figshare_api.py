"""gateway/upstream/figshare.py: the exact request of each typed method, and the reading of its answer."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.auth import NO_CREDENTIALS, CallerCredentials, Credential
from gateway.dates import Window
from gateway.errors import Forbidden, Unauthenticated, UpstreamBadResponse, UpstreamRejectedInput
from gateway.upstream.calls import CallLog
from gateway.upstream.figshare import FigshareAPI, Narrowing, Scope, Series
from tests.unit.wire import Wire, body, headers
from tests.upstream_support import data_source, make_upstream

BASIC = "Basic bGJvcm86c2VjcmV0"
LBORO = CallerCredentials(figshare=Credential(BASIC, "X-Figshare-Authorization"))
PUBLIC, INSTITUTION = Scope(), Scope("lboro")
WINDOW = Window(date(2026, 6, 1), date(2026, 6, 30))


def figshare(wire: Wire, caller: CallerCredentials = LBORO, calls: CallLog | None = None) -> FigshareAPI:
    api: FigshareAPI = data_source(make_upstream("FIGSHARE", wire), calls, caller)
    return api


def group_views(scope: Scope, window: Window = WINDOW, narrowing: Narrowing | None = None) -> Series:
    return Series(scope, "views", "group", "327", narrowing, window)


# ---------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("scope", "path"),
    [(PUBLIC, "/total/views/article/766364"), (INSTITUTION, "/lboro/total/views/article/766364")],
)
async def test_totals_are_public_in_every_scope(scope: Scope, path: str) -> None:
    wire = Wire(body({"totals": 41}))
    assert await figshare(wire).totals(scope, "views", "article", "766364") == 41
    assert wire.sent() == [("GET", path, headers(), b"")]


async def test_an_institution_timeline_carries_window_narrowing_and_the_credential() -> None:
    wire = Wire(body({"timeline": {"2026-06": 12, "2026-05": 3}}))
    series = group_views(INSTITUTION, narrowing=Narrowing("category", "39"))
    answer = await figshare(wire).timeline(series, "month")
    assert wire.sent() == [
        (
            "GET",
            "/lboro/timeline/month/views/group/327?start_date=2026-06-01&end_date=2026-06-30&sub_item=category&sub_item_id=39",
            headers(BASIC),
            b"",
        )
    ]
    assert answer == [(date(2026, 5, 1), 3), (date(2026, 6, 1), 12)]  # oldest first


async def test_a_public_timeline_never_carries_the_callers_credential() -> None:
    wire = Wire(body({"timeline": {"2026": 5}}))
    assert await figshare(wire).timeline(group_views(PUBLIC, Window()), "year") == [(date(2026, 1, 1), 5)]
    assert wire.sent() == [("GET", "/timeline/year/views/group/327", headers(), b"")]


async def test_an_institution_timeline_without_credentials_is_refused_before_sending() -> None:
    wire = Wire()
    with pytest.raises(
        Unauthenticated, match="A timeline in the 'lboro' institution scope needs credentials"
    ):
        await figshare(wire, NO_CREDENTIALS).timeline(group_views(INSTITUTION), "day")
    assert wire.requests == []


async def test_a_windowed_total_is_the_total_timeline() -> None:
    wire = Wire(body({"timeline": {"total": 17}}))
    assert await figshare(wire).timeline_total(group_views(INSTITUTION)) == 17
    assert [target for _, target, _, _ in wire.sent()] == [
        "/lboro/timeline/total/views/group/327?start_date=2026-06-01&end_date=2026-06-30"
    ]


async def test_countries_over_several_windows_are_one_request_each_summed() -> None:
    answers = {
        "2025-01-01": {
            "breakdown": {"total": {"Spain": {"Madrid": 2, "total": 5}, "Peru": {"Lima": 1, "total": 1}}}
        },
        "2026-01-02": {"breakdown": {"total": {"Spain": {"Madrid": 1, "Sevilla": 4, "total": 6}}}},
    }
    wire = Wire(lambda request: body(answers[request.url.params["start_date"]]))
    windows = [Window(date(2025, 1, 1), date(2026, 1, 1)), Window(date(2026, 1, 2), date(2026, 3, 1))]
    countries = await figshare(wire).countries(group_views(INSTITUTION), windows)
    assert sorted(target for _, target, _, _ in wire.sent()) == [
        "/lboro/breakdown/total/views/group/327?start_date=2025-01-01&end_date=2026-01-01",
        "/lboro/breakdown/total/views/group/327?start_date=2026-01-02&end_date=2026-03-01",
    ]
    assert all(sent == headers(BASIC) for _, _, sent, _ in wire.sent())
    assert countries == {"Spain": (11, {"Madrid": 3, "Sevilla": 4}), "Peru": (1, {"Lima": 1})}


async def test_a_ranking_sends_its_parameters_in_order() -> None:
    wire = Wire(body({"top": {"Chemistry": 4, "Physics": 9, "Art": 4}}))
    answer = await figshare(wire).top(
        INSTITUTION, "views", "group", count=3, window=WINDOW, item_id="327", sub_item="category"
    )
    assert wire.sent() == [
        (
            "GET",
            "/lboro/top/views/group?item_id=327&sub_item=category&count=3&start_date=2026-06-01&end_date=2026-06-30",
            headers(BASIC),
            b"",
        )
    ]
    assert answer == [("Physics", 9), ("Art", 4), ("Chemistry", 4)]  # highest first, ties by key


async def test_article_counts_are_one_post_with_the_documented_body() -> None:
    wire = Wire(body({"327": 12, "328": 0}))
    assert await figshare(wire).count_articles(["327", "328"]) == {"327": 12, "328": 0}
    assert wire.sent() == [
        ("POST", "/count/articles", headers(json_body=True), b'{"groups":[{"id":327},{"id":328}]}')
    ]


# ---------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        ({"timeline": None}, []),
        ({"timeline": {}}, []),
        ({"timeline": {"2026-06-03": 2, "2026-06-01": 1}}, [(date(2026, 6, 1), 1), (date(2026, 6, 3), 2)]),
    ],
)
async def test_empty_timelines_are_empty_and_days_come_oldest_first(
    answer: object, read: list[tuple[date, int]]
) -> None:
    assert await figshare(Wire(body(answer))).timeline(group_views(PUBLIC), "day") == read


@pytest.mark.parametrize(
    "answer",
    [
        {"totals": 1},
        {"timeline": []},
        {"timeline": {"June": 1}},
        {"timeline": {"2026-13": 1}},
        {"timeline": {"2026-06-01": -1}},
        {"timeline": {"2026-06-01": "1"}},
        {"timeline": {"2026-06-01": True}},
    ],
)
async def test_an_unreadable_timeline_is_a_bad_response(answer: object) -> None:
    with pytest.raises(UpstreamBadResponse) as raised:
        await figshare(Wire(body(answer))).timeline(group_views(PUBLIC), "day")
    assert raised.value.extensions == {"code": "UPSTREAM_BAD_RESPONSE", "source": "FIGSHARE"}


async def test_totals_answers() -> None:
    assert await figshare(Wire(body({"totals": None}))).totals(PUBLIC, "views", "article", "1") == 0
    for bad in (b"{}", b'{"totals": -2}', b'{"totals": 1.5}', b"not json"):
        with pytest.raises(UpstreamBadResponse):
            await figshare(Wire(bad)).totals(PUBLIC, "views", "article", "1")


async def test_breakdown_answers() -> None:
    """A country's total may be more than its listed cities; without one, they are summed; a null
    breakdown is empty."""
    two_buckets = {
        "breakdown": {"2026-05": {"Peru": {"Lima": 1}}, "2026-06": {"Peru": {"Lima": 2, "total": 7}}}
    }
    assert await figshare(Wire(body(two_buckets))).countries(group_views(PUBLIC), [WINDOW]) == {
        "Peru": (8, {"Lima": 3})
    }
    assert await figshare(Wire(body({"breakdown": None}))).countries(group_views(PUBLIC), [WINDOW]) == {}
    bad: object
    for bad in (
        {"top": {}},
        {"breakdown": {"total": {"Peru": 3}}},
        {"breakdown": {"total": {"Peru": {"Lima": "x"}}}},
        # Only null means "nothing": other empty values are not a breakdown at all.
        {"breakdown": []},
        {"breakdown": 0},
        {"breakdown": ""},
    ):
        with pytest.raises(UpstreamBadResponse):
            await figshare(Wire(body(bad))).countries(group_views(PUBLIC), [WINDOW])


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        ({"top": {"a": 1, "b": 2}}, [("b", 2), ("a", 1)]),
        ({"a": 1}, [("a", 1)]),
        ({"top": None}, []),
        ({}, []),
    ],
)
async def test_rankings_wrapped_or_bare(answer: object, read: list[tuple[str, int]]) -> None:
    assert (
        await figshare(Wire(body(answer))).top(PUBLIC, "views", "article", count=10, window=Window()) == read
    )


async def test_article_counts_answers() -> None:
    with pytest.raises(UpstreamBadResponse, match="an article count is not an integer"):
        await figshare(Wire(b'{"327": "12"}')).count_articles(["327"])


async def test_errors_keep_figshares_own_message() -> None:
    invalid = body({"message": "Invalid or unsupported params: start_date", "code": "InvalidParams"})
    with pytest.raises(UpstreamRejectedInput) as rejected:
        await figshare(Wire(invalid, 400)).timeline(group_views(PUBLIC), "day")
    assert (
        rejected.value.message == "FIGSHARE rejected the arguments: Invalid or unsupported params: start_date"
    )
    with pytest.raises(Forbidden) as refused:
        await figshare(Wire(body({"message": "Unauthorized request", "code": "Forbidden"}), 403)).timeline(
            group_views(INSTITUTION), "day"
        )
    assert refused.value.extensions == {"code": "FORBIDDEN", "source": "FIGSHARE", "upstreamStatus": 403}
    assert BASIC not in refused.value.message
