"""Argument values: any id, day, string or credential gets data or a typed error, checked whole
before anything is sent upstream (the emulators' logs prove it). The value strategies here also
drive tests/test_fuzz.py and bench/fuzz_bench.py.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import strategies as st

from gateway.dates import Granularity, bucket_start
from gateway.emulators.eras_data import VOLUNTEER_ID
from gateway.emulators.figshare_data import ARTICLE_BASE, AUTHOR_BASE, GROUP_BASE
from gateway.schema import ENTITIES
from tests.conftest import Gateway, Upstream, codes, data_of

ENTITY_TYPES = sorted(ENTITIES)
HUGE = "1" * 5000  # past Python's int conversion limit (4,300 digits)
KNOWN_IDS = ["0", "1", "42", "335", "1234", str(VOLUNTEER_ID), str(ARTICLE_BASE), str(AUTHOR_BASE), str(GROUP_BASE)]  # fmt: skip
ODD_IDS = ["", " 1", "1 ", "1\n", "-1", "+1", "1e3", "1.0", "0x1f", "\u0661\u0662", "1/../2", "1?x=2"]
ODD_DAYS = ["2024-02-30", "2026-13-01", "20260101", "2026-1-1", "10000-01-01", "0000-12-31", "2026-01-01\n"]
ODD_STRINGS = ["lboro\n", "LBORO", "dataset\n", "data set", "../x", "lboro?x=1", "%2e%2e", "a" * 65, "x\x00y", ""]  # fmt: skip


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
IDS = st.one_of(
    st.sampled_from(KNOWN_IDS),
    st.integers(0, 2**64).map(str),
    st.text(alphabet="0123456789", min_size=21, max_size=40),
    st.text(alphabet="0123456789", min_size=4290, max_size=4400),  # around Python's int conversion limit
    st.sampled_from(ODD_IDS),
    st.text(max_size=30),
)
EDGE_DAYS = st.one_of(st.dates(date(9990, 1, 1), date.max), st.dates(date.min, date(10, 12, 31)))
DAYS = st.one_of(
    st.dates(date.min, date.max).map(date.isoformat),
    EDGE_DAYS.map(date.isoformat),
    st.dates(date(2025, 1, 1), date(2027, 1, 1)).map(date.isoformat),
    st.sampled_from(ODD_DAYS),
    st.text(max_size=20),
)
STRINGS = st.one_of(
    st.sampled_from(["lboro", "dataset", "fileset", "figure", "a" * 64, *ODD_STRINGS]), st.text(max_size=40)
)
REPRESENTATIONS: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries(
        {"__typename": st.sampled_from(ENTITY_TYPES)},
        optional={"id": st.one_of(IDS, st.integers(-(2**63), 2**63 - 1), JSON_VALUES)},
    ),
    st.fixed_dictionaries(
        {"__typename": st.one_of(st.sampled_from(["Query", "Bucket", "zooniverseProject", ""]), JSON_VALUES)},
        optional={"id": IDS},
    ),
    st.dictionaries(st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,8}\Z"), JSON_VALUES, max_size=3),
    JSON_VALUES,
)


def good_id(representation: Any) -> str | None:
    """The id a representation names, if it is one the gateway must resolve (else it fails alone)."""
    if not isinstance(representation, dict) or not isinstance(representation.get("__typename"), str):
        return None
    value = representation.get("id")
    if (
        representation["__typename"] not in ENTITIES
        or isinstance(value, bool)
        or not isinstance(value, str | int)
    ):
        return None
    text = str(value)
    return str(int(text)) if re.fullmatch(r"[0-9]{1,20}", text) else None


def refused(
    gateway: Gateway, query: str, variables: dict[str, Any] | None = None, **headers: Any
) -> list[str]:
    """The messages of a query whose every error is BAD_USER_INPUT; at least one."""
    result = gateway.query(query, variables, **headers)
    assert result["errors"], result
    assert set(codes(result)) == {"BAD_USER_INPUT"}, result["errors"]
    assert all(len(e["message"]) <= 300 for e in result["errors"])
    return [e["message"] for e in result["errors"]]


@pytest.fixture
def upstreams(eras: Upstream, figshare: Upstream) -> Any:
    """A check that neither upstream received a request."""
    return lambda: (len(eras.log), len(figshare.log)) == (0, 0)


# ------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    "query",
    [
        '{ zooniverse { project(id: "%s") { classifications { total } } } }' % HUGE,
        "{ zooniverse { project(id: %s) { classifications { total } } } }" % HUGE,
        '{ zooniverse { userGroup(id: "%s") { classifications { total } } } }' % HUGE,
        '{ zooniverse { classifications(projectIds: ["1", "%s"]) { total } } }' % HUGE,
        '{ figshare { article(id: "%s") { views { total } } } }' % HUGE,
        '{ figshare { article(id: "1") { views(filter: {categoryId: "%s"}) { total } } } }' % HUGE,
        '{ _entities(representations: [{__typename: "ZooniverseProject", id: "%s"}]) { __typename } }' % HUGE,
    ],
)
def test_ids_past_the_int_conversion_limit_are_bad_user_input(
    gateway: Gateway, upstreams: Any, query: str
) -> None:
    assert any("numeric id" in m for m in refused(gateway, query))
    assert upstreams()


@pytest.mark.parametrize("value", [*ODD_IDS, "1" * 21, HUGE])
def test_ids_are_checked_whole(gateway: Gateway, upstreams: Any, value: str) -> None:
    refused(
        gateway,
        "query($id: ID!) { zooniverse { userGroup(id: $id) { classifications { total } } } }",
        {"id": value},
    )
    assert upstreams()


def test_integer_literals_past_the_conversion_limit_are_bad_user_input(
    gateway: Gateway, upstreams: Any
) -> None:
    top = (
        '{ zooniverse { userGroup(id: "42") { classifications { topContributors(limit: %s) { count } } } } }'
    )
    assert refused(gateway, top % HUGE)[0].startswith("Expected value of type 'Int'")
    assert refused(
        gateway, "query($l: Int = %s) { figshare { top(counter: VIEWS, limit: $l) { key } } }" % HUGE
    )
    day = refused(gateway, "{ zooniverse { classifications(startDate: %s) { total } } }" % HUGE)
    assert day == [f"startDate must be a calendar day written YYYY-MM-DD, not '{HUGE[:40]}'."]
    assert upstreams()


# ------------------------------------------------------------------ strings


@pytest.mark.parametrize("institution", ODD_STRINGS)
def test_institutions_are_checked_whole(gateway: Gateway, upstreams: Any, institution: str) -> None:
    query = 'query($i: String) { figshare(institution: $i) { article(id: "1") { views { total } } } }'
    assert refused(gateway, query, {"i": institution})[0].startswith("institution must be")
    assert upstreams()


@pytest.mark.parametrize("item_type", ODD_STRINGS)
def test_item_types_are_checked_whole(gateway: Gateway, upstreams: Any, item_type: str) -> None:
    query = 'query($t: String) { figshare { article(id: "1") { views(filter: {itemType: $t}) { total } } } }'
    assert refused(gateway, query, {"t": item_type})[0].startswith("filter.itemType must be")
    assert upstreams()


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize("period", ["DAY", "WEEK", "MONTH", "YEAR"])
def test_windows_ending_on_the_last_day_of_the_calendar_fill_their_gaps(
    gateway: Gateway, eras: Upstream, figshare: Upstream, period: str
) -> None:
    window = 'startDate: "9999-12-01", endDate: "9999-12-31"'
    series = f"series(period: {period}, fillGaps: true) {{ start count }}"
    data = data_of(
        gateway.query(
            '{ zooniverse { classifications(%s) { %s } } figshare { article(id: "%s") { views(%s) { %s } } } }'
            % (window, series, ARTICLE_BASE, window, series)
        )
    )
    last = bucket_start(date.max, Granularity[period]).isoformat()
    for buckets in (
        data["zooniverse"]["classifications"]["series"],
        data["figshare"]["article"]["views"]["series"],
    ):
        assert buckets[-1]["start"] == last
    assert (len(eras.log), len(figshare.log)) == (1, 1)


def test_countries_near_the_end_of_the_calendar_ask_for_each_year_up_to_its_last_day(
    gateway: Gateway, figshare: Upstream
) -> None:
    result = gateway.query(
        '{ figshare { article(id: "%s") { views(startDate: "9998-06-01", endDate: "9999-12-31") { countries { country } } } } }'
        % ARTICLE_BASE
    )
    data_of(result)
    windows = {(r.params["start_date"], r.params["end_date"]) for r in figshare.log}
    assert windows == {("9998-06-01", "9999-06-01"), ("9999-06-02", "9999-12-31")}


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "9999-12-31"), ("0001-01-01", "0001-01-02")])
def test_windows_from_the_first_day_of_the_calendar(gateway: Gateway, start: str, end: str) -> None:
    result = gateway.query(
        "query($s: Date, $e: Date) { zooniverse { classifications(startDate: $s, endDate: $e) { total series(period: YEAR, fillGaps: true) { start } } } }",
        {"s": start, "e": end},
    )
    series = data_of(result)["zooniverse"]["classifications"]["series"]
    assert series[0]["start"] == "0001-01-01"


def test_series_too_long_to_fill_are_refused_before_any_request(gateway: Gateway, upstreams: Any) -> None:
    query = '{ zooniverse { classifications(startDate: "0001-01-01", endDate: "9999-12-31") { series(period: DAY, fillGaps: true) { count } } } }'
    assert "GATEWAY_MAX_SERIES_POINTS" in refused(gateway, query)[0]
    assert upstreams()


@pytest.mark.parametrize("day", ODD_DAYS)
def test_days_that_are_not_calendar_days_are_bad_user_input(
    gateway: Gateway, upstreams: Any, day: str
) -> None:
    refused(gateway, "query($d: Date) { zooniverse { classifications(endDate: $d) { total } } }", {"d": day})
    assert upstreams()


# ------------------------------------------------------------------ credentials and entities


@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"Bearer caf\xe9", b"Bearer \xc3\xa9t\xc3\xa9"])
def test_non_ascii_bearer_tokens_are_unauthenticated_and_never_sent(
    gateway: Gateway, eras: Upstream, value: bytes
) -> None:
    query = (
        '{ zooniverse { classifications { total } user(id: "%s") { classifications { total } } } }'
        % VOLUNTEER_ID
    )
    response = gateway.http.post("/graphql", json={"query": query}, headers=[(b"authorization", value)])
    result = response.json()
    assert codes(result) == ["UNAUTHENTICATED"]
    assert "visible ASCII" in result["errors"][0]["message"]
    assert isinstance(result["data"]["zooniverse"]["classifications"]["total"], int)
    assert [r.header("authorization") for r in eras.log] == [None]  # the public total only


def test_non_ascii_figshare_credentials_are_unauthenticated_and_never_sent(
    gateway: Gateway, upstreams: Any
) -> None:
    query = '{ figshare(institution: "lboro") { article(id: "%s") { views(startDate: "2026-01-01") { total } } } }'
    response = gateway.http.post(
        "/graphql",
        json={"query": query % ARTICLE_BASE},
        headers=[(b"x-figshare-authorization", b"Basic \xc3\xa9")],
    )
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert upstreams()


def test_each_bad_representation_fails_alone(gateway: Gateway, upstreams: Any) -> None:
    representations = [
        {"__typename": "ZooniverseProject", "id": "1"},
        {"__typename": "Nope", "id": "1"},
        {"id": "2"},
        5,
        {"__typename": "FigshareArticle", "id": "1\n2"},
        {"__typename": ["FigshareArticle"], "id": "3"},
        {"__typename": "FigshareArticle", "id": str(ARTICLE_BASE)},
    ]
    query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on FigshareArticle { id } ... on ZooniverseProject { id } } }"
    result = gateway.query(query, {"r": representations})
    assert [good_id(r) for r in representations] == ["1", None, None, None, None, None, str(ARTICLE_BASE)]
    assert result["data"]["_entities"] == [
        {"__typename": "ZooniverseProject", "id": "1"},
        *[None] * 5,
        {"__typename": "FigshareArticle", "id": str(ARTICLE_BASE)},
    ]
    assert sorted(e["path"][1] for e in result["errors"]) == [1, 2, 3, 4, 5]
    assert set(codes(result)) == {"BAD_USER_INPUT"}
    assert upstreams()


def test_a_null_for_a_non_null_argument_from_a_variable_default_is_bad_user_input(
    gateway: Gateway, upstreams: Any
) -> None:
    query = "query($p: Period = DAY) { zooniverse { classifications { series(period: $p) { count } } } }"
    assert "period" in refused(gateway, query, {"p": None})[0]
    assert upstreams()
