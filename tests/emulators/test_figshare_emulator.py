"""Client cases for the Figshare Statistics emulator, sent over loopback HTTP.

The requests follow figshare-stats-api.md §9. Expected numbers come from ``tests.figshare_oracle``,
computed straight from the data set's articles and event rows, not with the emulator's code. The
data set and today are this file's own, so the documented cases keep their dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.emulators.figshare import build_figshare_emulator
from gateway.emulators.figshare_data import (
    ALL_COUNTRIES,
    DEMO_ARTICLE_IDS,
    DEMO_AUTHOR_IDS,
    DEMO_COLLECTION_IDS,
    DEMO_GROUP_IDS,
    DEMO_INSTITUTIONS,
    DEMO_PROJECT_IDS,
    EventRow,
    FigshareDataset,
    ScopeData,
    basic_header,
)
from gateway.emulators.recorder import EmulatorApp
from tests.conftest import served
from tests.figshare_oracle import (
    Narrowing,
    assert_top,
    belongs,
    breakdown_tree,
    public_articles,
    ranking,
    rows_of,
    scope_of,
    timeline_of,
    total,
)

TODAY = date(2025, 7, 20)
MONTH_START = date(2025, 7, 1)
DATASET = FigshareDataset.generate(seed=11, start=date(2021, 1, 1), end=TODAY)
ART, ART2, ART3 = DEMO_ARTICLE_IDS
UNKNOWN_ID = 21332  # not in the data set: every answer about it is the empty form

JsonObj = dict[str, Any]


def auth(slug: str) -> dict[str, str]:
    return {"Authorization": basic_header(*DEMO_INSTITUTIONS[slug])}


def scope(slug: str | None) -> ScopeData:
    return scope_of(DATASET, slug)


def assert_breakdown(body: JsonObj, rows: list[EventRow], granularity: str) -> None:
    """A breakdown answer: each bucket's top 200 countries, each with its full total and its top
    10 named cities."""
    tree = breakdown_tree(rows, granularity)
    breakdown = body["breakdown"]
    if not tree:
        assert breakdown is None
        return
    assert isinstance(breakdown, dict)
    assert set(breakdown) == set(tree)
    for bucket, countries in tree.items():
        shown = breakdown[bucket]
        totals = {country: sum(cities.values()) for country, cities in countries.items()}
        assert_top([(c, v["total"]) for c, v in shown.items()], totals, 200, ordered=False)
        for country, row in shown.items():
            named = {city: n for city, n in countries[country].items() if city is not None}
            assert_top([(k, v) for k, v in row.items() if k != "total"], named, 10, ordered=False)


def assert_top_answer(body: JsonObj, full: dict[str, int], limit: int) -> None:
    """A tops answer is the top ``limit`` of ``full`` (an object: in no particular order)."""
    top = body["top"]
    assert isinstance(top, dict)
    assert_top(list(top.items()), full, limit, ordered=False)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


def build(**options: bool) -> EmulatorApp:
    return build_figshare_emulator(DATASET, today=lambda: TODAY, **options)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with served(build()) as upstream, httpx.Client(base_url=upstream.url, timeout=10) as c:
        yield c


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> JsonObj:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert isinstance(body, dict)
    return body


def invalid(param: str, extra: str) -> JsonObj:
    return {
        "data": {"extra": extra, "invalid_params": param},
        "code": "InvalidParams",
        "message": f"Invalid or unsupported params: {param}",
    }


FORBIDDEN = {"data": None, "code": "Forbidden", "message": "Unauthorized request"}
NOT_FOUND = {"message": "Not Found", "code": "NotFound", "data": None}


# ---------------------------------------------------------------------------------------------
# Data set
# ---------------------------------------------------------------------------------------------


def test_dataset_is_deterministic_and_has_separate_scopes() -> None:
    again = FigshareDataset.generate(seed=11, start=date(2021, 1, 1), end=TODAY)
    assert again.public.rows == DATASET.public.rows
    assert again.institutions["lboro"].rows == DATASET.institutions["lboro"].rows
    assert set(DATASET.institutions) == set(DEMO_INSTITUTIONS) == {"lboro", "monash", "ryerson"}
    assert DATASET.public.rows != DATASET.institutions["lboro"].rows
    assert FigshareDataset.generate(seed=12, end=TODAY).public.rows != DATASET.public.rows
    assert max(r.day for r in DATASET.public.rows) <= TODAY
    assert min(r.day for r in DATASET.public.rows) >= date(2021, 1, 1)


def test_demo_ids_have_data_in_every_scope() -> None:
    demo = {
        "article": DEMO_ARTICLE_IDS,
        "author": DEMO_AUTHOR_IDS,
        "group": DEMO_GROUP_IDS,
        "collection": DEMO_COLLECTION_IDS,
        "project": DEMO_PROJECT_IDS,
    }
    for slug in (None, *DEMO_INSTITUTIONS):
        data = scope(slug)
        for item, ids in demo.items():
            for item_id in ids:
                for counter in ("views", "downloads", "shares"):
                    recent = rows_of(data, item, item_id, counter, MONTH_START, TODAY)
                    assert recent, (slug, item, item_id, counter)


def test_dataset_has_the_quirks_of_the_real_service() -> None:
    rows = DATASET.public.rows
    assert {"Unknown", "Unkown"} <= {r.city for r in rows}
    assert "Unknown" in {r.country for r in rows}
    assert any(r.city is None for r in rows)
    assert len(ALL_COUNTRIES) > 200
    # Shares are rare: most articles have none at all.
    with_shares = {r.article_id for r in rows if r.counter == "shares"}
    assert len(with_shares) < len(DATASET.public.articles) / 2
    assert any(not a.is_public for a in DATASET.public.articles.values())


def test_basic_header() -> None:
    assert basic_header("user", "pass") == "Basic dXNlcjpwYXNz"


# ---------------------------------------------------------------------------------------------
# R1, R2: totals (no auth ever, all time, dates ignored)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("counter", ["views", "downloads", "shares"])
def test_public_totals(client: httpx.Client, counter: str) -> None:
    body = get_json(client, f"/total/{counter}/article/{ART}")
    assert body == {"totals": total(rows_of(DATASET.public, "article", ART, counter))}
    assert body["totals"] > 0


@pytest.mark.parametrize(
    ("slug", "counter", "item", "item_id"),
    [
        ("ryerson", "views", "article", ART),
        ("lboro", "downloads", "article", ART2),
        ("monash", "views", "group", DEMO_GROUP_IDS[0]),
        ("lboro", "shares", "author", DEMO_AUTHOR_IDS[0]),
    ],
)
def test_institution_totals_need_no_credentials(
    client: httpx.Client, slug: str, counter: str, item: str, item_id: int
) -> None:
    body = get_json(client, f"/{slug}/total/{counter}/{item}/{item_id}")
    rows = rows_of(scope(slug), item, item_id, counter)
    assert body == {"totals": total(rows)}


def test_totals_ignore_dates_and_unknown_ids_are_zero(client: httpx.Client) -> None:
    url = f"/total/views/article/{ART}"
    dated = get_json(client, url, params={"start_date": "2025-07-01", "end_date": "2025-07-02"})
    assert dated == get_json(client, url)
    assert get_json(client, f"/total/views/article/{UNKNOWN_ID}") == {"totals": 0}


@pytest.mark.parametrize(
    ("slug", "item", "item_id"),
    [
        (None, "article", ART),
        ("ryerson", "article", ART2),
        ("lboro", "collection", DEMO_COLLECTION_IDS[0]),
        (None, "author", DEMO_AUTHOR_IDS[0]),
        ("monash", "project", DEMO_PROJECT_IDS[1]),
    ],
)
def test_combined_totals(client: httpx.Client, slug: str | None, item: str, item_id: int) -> None:
    prefix = "" if slug is None else f"/{slug}"
    data = scope(slug)
    body = get_json(client, f"{prefix}/total/{item}/{item_id}")
    expected = {c: total(rows_of(data, item, item_id, c)) for c in ("views", "downloads", "shares")}
    expected["cites"] = sum(a.cites for a in data.articles.values() if belongs(a, item, item_id))
    assert body == expected


def test_credentials_on_open_routes_are_ignored(client: httpx.Client) -> None:
    plain = get_json(client, f"/total/collection/{DEMO_COLLECTION_IDS[0]}")
    assert get_json(client, f"/total/collection/{DEMO_COLLECTION_IDS[0]}", headers=auth("lboro")) == plain
    bogus = {"Authorization": basic_header("nobody", "wrong")}
    assert get_json(client, f"/total/article/{ART}", headers=bogus) == get_json(
        client, f"/total/article/{ART}"
    )
    assert get_json(client, f"/lboro/total/views/article/{ART}", headers=bogus)["totals"] > 0


def test_combined_totals_of_unknown_item_are_zero(client: httpx.Client) -> None:
    body = get_json(client, f"/total/article/{UNKNOWN_ID}")
    assert body == {"views": 0, "downloads": 0, "shares": 0, "cites": 0}


# ---------------------------------------------------------------------------------------------
# R3: timeline
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("counter", ["views", "downloads"])
def test_ryerson_group_timeline_by_month_and_year(client: httpx.Client, counter: str) -> None:
    group = DEMO_GROUP_IDS[0]
    params = {"start_date": "2023-05-01", "end_date": "2023-10-28"}
    rows = rows_of(scope("ryerson"), "group", group, counter, date(2023, 5, 1), date(2023, 10, 28))
    monthly = get_json(
        client, f"/ryerson/timeline/month/{counter}/group/{group}", params=params, headers=auth("ryerson")
    )
    yearly = get_json(
        client, f"/ryerson/timeline/year/{counter}/group/{group}", params=params, headers=auth("ryerson")
    )
    assert monthly == {"timeline": timeline_of(rows, "month")}
    assert yearly == {"timeline": timeline_of(rows, "year")}
    assert isinstance(monthly["timeline"], dict)
    assert isinstance(yearly["timeline"], dict)
    # The client sums the buckets: both granularities agree.
    assert sum(monthly["timeline"].values()) == sum(yearly["timeline"].values()) > 0


def test_long_monthly_timeline(client: httpx.Client) -> None:
    group = DEMO_GROUP_IDS[1]
    url = f"/lboro/timeline/month/views/group/{group}?start_date=2020-01-03&end_date=2022-05-12"
    body = get_json(client, url, headers=auth("lboro"))
    rows = rows_of(scope("lboro"), "group", group, "views", date(2020, 1, 3), date(2022, 5, 12))
    assert body == {"timeline": timeline_of(rows, "month")}
    timeline = body["timeline"]
    assert isinstance(timeline, dict)
    assert min(timeline) >= "2021-01"  # nothing before the data starts; no zero buckets
    assert max(timeline) == "2022-05"


@pytest.mark.parametrize("counter", ["views", "downloads"])
def test_public_timeline_defaults_to_current_month(client: httpx.Client, counter: str) -> None:
    body = get_json(client, f"/timeline/month/{counter}/article/{ART}")
    rows = rows_of(DATASET.public, "article", ART, counter, MONTH_START, TODAY)
    assert body == {"timeline": timeline_of(rows, "month")}
    assert body["timeline"] is not None
    assert get_json(client, f"/timeline/month/{counter}/article/{UNKNOWN_ID}") == {"timeline": None}


def test_singular_counter_is_invalid(client: httpx.Client) -> None:
    response = client.get(f"/timeline/month/view/article/{ART}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.json() == invalid("counter", "Counter type not supported: view")
    hugs = client.get(f"/total/hugs/article/{ART}")
    assert hugs.status_code == 400
    assert hugs.json() == invalid("counter", "Counter type not supported: hugs")


@pytest.mark.parametrize("counter", ["views", "downloads", "shares"])
def test_daily_timeline_without_dates(client: httpx.Client, counter: str) -> None:
    body = get_json(client, f"/monash/timeline/day/{counter}/article/{ART}", headers=auth("monash"))
    rows = rows_of(scope("monash"), "article", ART, counter, MONTH_START, TODAY)
    assert body == {"timeline": timeline_of(rows, "day")}
    timeline = body["timeline"]
    assert isinstance(timeline, dict)
    assert all(MONTH_START.isoformat() <= key <= TODAY.isoformat() for key in timeline)
    assert all(value > 0 for value in timeline.values())


def test_daily_timeline_with_a_span_of_decades(client: httpx.Client) -> None:
    old = "/lboro/timeline/day/views/article/{}?start_date=1970-01-01&end_date=2016-06-13"
    assert get_json(client, old.format(ART), headers=auth("lboro")) == {"timeline": None}
    body = get_json(
        client, f"/lboro/timeline/day/views/article/{ART}?start_date=1970-01-01", headers=auth("lboro")
    )
    rows = rows_of(scope("lboro"), "article", ART, "views", None, TODAY)
    assert body == {"timeline": timeline_of(rows, "day")}


def test_documented_timeline_cases(client: httpx.Client) -> None:
    monash, lboro = auth("monash"), auth("lboro")
    cases = [
        "/monash/timeline/day/views/group/10?sub_item=item_type&sub_item_id=dataset&start_date=2014-03-01&end_date=2014-03-04",
        "/monash/timeline/month/shares/group/10?sub_item=category&sub_item_id=2&start_date=2014-01-03&end_date=2014-05-12",
    ]
    for url in cases:
        assert get_json(client, url, headers=monash) == {"timeline": None}
    url = "/lboro/timeline/total/views/collection/15?start_date=2014-01-02&end_date=2014-03-05"
    assert get_json(client, url, headers=lboro) == {"timeline": None}


@pytest.mark.parametrize(
    ("sub_item", "sub_item_id"), [("item_type", "dataset"), ("category", "2"), ("item_type", "hologram")]
)
def test_timeline_narrowed_by_sub_item(client: httpx.Client, sub_item: str, sub_item_id: str) -> None:
    group = DEMO_GROUP_IDS[0]
    params = {
        "sub_item": sub_item,
        "sub_item_id": sub_item_id,
        "start_date": "2022-01-03",
        "end_date": "2024-05-12",
    }
    body = get_json(
        client, f"/monash/timeline/month/views/group/{group}", params=params, headers=auth("monash")
    )
    rows = rows_of(
        scope("monash"), "group", group, "views", date(2022, 1, 3), date(2024, 5, 12), (sub_item, sub_item_id)
    )
    assert body == {"timeline": timeline_of(rows, "month")}


def test_timeline_total_granularity(client: httpx.Client) -> None:
    collection = DEMO_COLLECTION_IDS[0]
    url = f"/lboro/timeline/total/views/collection/{collection}?start_date=2024-01-02&end_date=2025-03-05"
    body = get_json(client, url, headers=auth("lboro"))
    rows = rows_of(scope("lboro"), "collection", collection, "views", date(2024, 1, 2), date(2025, 3, 5))
    assert body == {"timeline": {"total": total(rows)}}


def test_missing_sub_item_id(client: httpx.Client) -> None:
    url = "/lboro/timeline/month/views/group/1?sub_item=category&start_date=2014-01-01&end_date=2015-02-03"
    response = client.get(url, headers=auth("lboro"))
    assert response.status_code == 400
    assert response.json() == {
        "data": {
            "missing_params": "sub_item_id",
            "parameters": {"end_date": "2015-02-03", "start_date": "2014-01-01", "sub_item": "category"},
            "path": "/lboro/timeline/month/views/group/1",
        },
        "code": "MissingParams",
        "message": "Missing required params: sub_item_id",
    }


def test_only_start_date_runs_to_today_and_only_end_date_starts_its_month(client: httpx.Client) -> None:
    start_only = get_json(client, f"/timeline/day/views/article/{ART}?start_date=2025-06-10")
    rows = rows_of(DATASET.public, "article", ART, "views", date(2025, 6, 10), TODAY)
    assert start_only == {"timeline": timeline_of(rows, "day")}
    end_only = get_json(client, f"/timeline/day/views/article/{ART}?end_date=2025-06-10")
    rows = rows_of(DATASET.public, "article", ART, "views", date(2025, 6, 1), date(2025, 6, 10))
    assert end_only == {"timeline": timeline_of(rows, "day")}
    assert end_only["timeline"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"/timeline/month/views/thing/{ART}", invalid("item", "Item type not supported: thing")),
        (f"/timeline/week/views/article/{ART}", invalid("granularity", "Granularity not supported: week")),
        (
            f"/timeline/month/views/article/{ART}?sub_item=referral&sub_item_id=x",
            invalid("sub_item", "Sub item type not supported: referral"),
        ),
        (
            f"/breakdown/month/views/article/{ART}?sub_item=referral&sub_item_id=x",
            invalid("sub_item", "Sub item type not supported: referral"),
        ),
        (
            f"/timeline/month/views/article/{ART}?start_date=2014-13-01",
            invalid("start_date", "Start date not supported: 2014-13-01"),
        ),
        (
            f"/timeline/month/views/article/{ART}?end_date=2014-1-1",
            invalid("end_date", "End date not supported: 2014-1-1"),
        ),
        (
            "/top/views/article?start_date=yesterday",
            invalid("start_date", "Start date not supported: yesterday"),
        ),
        ("/total/views/article/abc", invalid("item_id", "Item id not supported: abc")),
        ("/top/views/article?count=ten", invalid("count", "Count not supported: ten")),
        ("/top/views/article?count=0", invalid("count", "Count not supported: 0")),
        ("/top/views/article?sub_item=country", invalid("sub_item", "Sub item type not supported: country")),
    ],
)
def test_invalid_params(client: httpx.Client, url: str, expected: JsonObj) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert response.json() == expected


def test_start_after_end_is_invalid(client: httpx.Client) -> None:
    for url in (
        f"/timeline/day/views/article/{ART}?start_date=2025-02-01&end_date=2025-01-01",
        f"/breakdown/day/views/article/{ART}?start_date=2025-02-01&end_date=2025-01-01",
        f"/timeline/day/views/article/{ART}?start_date=2025-08-01",  # end defaults to today
        "/top/views/article?start_date=2025-02-01&end_date=2025-01-01",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "InvalidParams"
        assert body["data"]["invalid_params"] == "start_date"


def test_enumerations_are_checked_in_path_order_before_lookup(client: httpx.Client) -> None:
    response = client.get(f"/timeline/week/view/thing/{UNKNOWN_ID}")
    assert response.json()["data"]["invalid_params"] == "granularity"
    response = client.get(f"/timeline/day/view/thing/{UNKNOWN_ID}")
    assert response.json()["data"]["invalid_params"] == "counter"


# ---------------------------------------------------------------------------------------------
# Auth on institution timeline, breakdown and tops
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"/ryerson/timeline/month/views/group/{DEMO_GROUP_IDS[0]}",
        f"/monash/breakdown/month/views/group/{DEMO_GROUP_IDS[0]}",
        "/lboro/top/views/article",
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "token 0123456789abcdef"},
        {"Authorization": basic_header("someone", "wrong")},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic"},
    ],
)
def test_protected_routes_refuse_bad_credentials(
    client: httpx.Client, url: str, headers: dict[str, str]
) -> None:
    response = client.get(url, headers=headers)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_token_scheme_on_tops_is_forbidden(client: httpx.Client) -> None:
    response = client.get("/monash/top/views/article?count=5", headers={"Authorization": "token abc"})
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_foreign_institution_credentials_are_forbidden(client: httpx.Client) -> None:
    response = client.get("/monash/top/views/article", headers=auth("lboro"))
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_basic_credentials_in_every_client_form(client: httpx.Client) -> None:
    user, password = DEMO_INSTITUTIONS["ryerson"]
    url = f"/ryerson/timeline/month/views/group/{DEMO_GROUP_IDS[0]}"
    expected = get_json(client, url, headers=auth("ryerson"))
    assert get_json(client, url, auth=(user, password)) == expected
    lower = basic_header(user, password).replace("Basic", "basic")
    assert get_json(client, url, headers={"Authorization": lower}) == expected


def test_public_protected_families_need_no_auth(client: httpx.Client) -> None:
    for url in (
        f"/timeline/month/views/article/{ART}",
        f"/breakdown/month/views/article/{ART}",
        "/top/views/article",
    ):
        assert client.get(url).status_code == 200


# ---------------------------------------------------------------------------------------------
# R4: breakdown
# ---------------------------------------------------------------------------------------------


def test_ryerson_group_country_ranking(client: httpx.Client) -> None:
    group = DEMO_GROUP_IDS[0]
    url = f"/ryerson/breakdown/total/views/group/{group}?start_date=2023-05-01&end_date=2023-10-31"
    body = get_json(client, url, headers=auth("ryerson"))
    rows = rows_of(scope("ryerson"), "group", group, "views", date(2023, 5, 1), date(2023, 10, 31))
    assert_breakdown(body, rows, "total")
    breakdown = body["breakdown"]
    assert isinstance(breakdown, dict)
    assert set(breakdown) == {"total"}
    assert all(isinstance(country["total"], int) for country in breakdown["total"].values())


@pytest.mark.parametrize("counter", ["views", "downloads"])
def test_lboro_article_breakdown_one_year_chunk(client: httpx.Client, counter: str) -> None:
    url = f"/lboro/breakdown/total/{counter}/article/{ART}?start_date=2021-01-01&end_date=2022-01-01"
    body = get_json(client, url, headers=auth("lboro"))
    rows = rows_of(scope("lboro"), "article", ART, counter, date(2021, 1, 1), date(2022, 1, 1))
    assert_breakdown(body, rows, "total")
    assert body["breakdown"] is not None


def test_breakdown_defaults_to_current_month(client: httpx.Client) -> None:
    body = get_json(client, f"/lboro/breakdown/total/downloads/article/{ART}", headers=auth("lboro"))
    rows = rows_of(scope("lboro"), "article", ART, "downloads", MONTH_START, TODAY)
    assert rows
    assert_breakdown(body, rows, "total")


@pytest.mark.parametrize(
    ("granularity", "start", "asked_end", "clamped_end"),
    [
        ("day", date(2020, 7, 1), TODAY, date(2021, 7, 1)),
        ("day", date(2023, 7, 1), TODAY, date(2024, 7, 1)),
        ("month", date(2021, 3, 15), TODAY, date(2023, 3, 15)),
        ("year", date(2019, 2, 1), TODAY, date(2024, 2, 1)),
        ("total", date(2023, 7, 1), TODAY, date(2024, 7, 1)),
        ("total", date(2024, 2, 29), TODAY, date(2025, 2, 28)),
        ("day", date(2025, 1, 1), TODAY, TODAY),  # under a year: unchanged
    ],
)
def test_breakdown_end_is_clamped(
    client: httpx.Client, granularity: str, start: date, asked_end: date, clamped_end: date
) -> None:
    params = {"start_date": start.isoformat(), "end_date": asked_end.isoformat()}
    for counter, item, item_id in (
        ("views", "article", ART),
        ("shares", "collection", DEMO_COLLECTION_IDS[1]),
    ):
        url = f"/lboro/breakdown/{granularity}/{counter}/{item}/{item_id}"
        body = get_json(client, url, params=params, headers=auth("lboro"))
        rows = rows_of(scope("lboro"), item, item_id, counter, start, clamped_end)
        assert_breakdown(body, rows, granularity)
    if clamped_end < asked_end:
        # Precondition: there are events after the clamped end, so the clamp was observable.
        after = rows_of(scope("lboro"), "article", ART, "views", clamped_end + timedelta(days=1))
        assert after


def test_breakdown_clamp_needs_both_dates(client: httpx.Client) -> None:
    body = get_json(client, f"/breakdown/year/views/article/{ART}?start_date=2021-01-01")
    rows = rows_of(DATASET.public, "article", ART, "views", date(2021, 1, 1), TODAY)
    assert_breakdown(body, rows, "year")


def test_breakdown_truncates_countries_and_cities(client: httpx.Client) -> None:
    start, end = TODAY - timedelta(days=365), TODAY
    url = f"/breakdown/total/views/article/{ART}?start_date={start}&end_date={end}"
    body = get_json(client, url)
    rows = rows_of(DATASET.public, "article", ART, "views", start, end)
    tree = breakdown_tree(rows, "total")["total"]
    # Preconditions of this case: the data really exceeds both limits.
    assert len(tree) > 200
    assert len([c for c in tree["United States"] if c]) > 10
    assert_breakdown(body, rows, "total")
    breakdown = body["breakdown"]
    assert isinstance(breakdown, dict)
    countries = breakdown["total"]
    assert len(countries) == 200
    assert len(countries["United States"]) == 11  # 10 cities and "total"
    # A country's total includes cut-off cities and events without a city.
    assert any(sum(v for k, v in row.items() if k != "total") < row["total"] for row in countries.values())


@pytest.mark.parametrize(
    ("url", "first", "last", "granularity", "narrowed"),
    [
        (
            f"/breakdown/day/views/article/{ART}?start_date=2025-04-19&end_date=2025-04-21",
            date(2025, 4, 19),
            date(2025, 4, 21),
            "day",
            None,
        ),
        (
            f"/breakdown/year/views/article/{ART}?start_date=2021-04-19&end_date=2022-04-21",
            date(2021, 4, 19),
            date(2022, 4, 21),
            "year",
            None,
        ),
        (
            f"/breakdown/month/views/group/{DEMO_GROUP_IDS[2]}?sub_item=item_type&sub_item_id=fileset&start_date=2024-02-11&end_date=2024-05-17",
            date(2024, 2, 11),
            date(2024, 5, 17),
            "month",
            ("item_type", "fileset"),
        ),
    ],
)
def test_documented_breakdown_cases(
    client: httpx.Client, url: str, first: date, last: date, granularity: str, narrowed: Narrowing
) -> None:
    body = get_json(client, url)
    item = "group" if "/group/" in url else "article"
    item_id = int(url.split("?")[0].rsplit("/", 1)[1])
    rows = rows_of(DATASET.public, item, item_id, "views", first, last, narrowed)
    assert_breakdown(body, rows, granularity)


def test_breakdown_empty_forms(client: httpx.Client) -> None:
    assert get_json(
        client, "/breakdown/day/views/article/766364?start_date=2017-04-19&end_date=2017-04-21"
    ) == {"breakdown": None}
    assert get_json(client, f"/breakdown/month/views/author/{UNKNOWN_ID}") == {"breakdown": None}


# ---------------------------------------------------------------------------------------------
# R5: tops
# ---------------------------------------------------------------------------------------------


def test_tops_without_sub_item_are_all_time_and_ignore_unknown_params(client: httpx.Client) -> None:
    for counter in ("views", "downloads"):
        body = get_json(client, f"/lboro/top/{counter}/article?n=10", headers=auth("lboro"))
        assert_top_answer(body, ranking(scope("lboro"), counter, "article"), 10)


def test_tops_with_dates_without_sub_item(client: httpx.Client) -> None:
    url = "/lboro/top/views/article?n=10&start_date=2025-01-01&end_date=2025-06-30"
    full = ranking(scope("lboro"), "views", "article", date(2025, 1, 1), date(2025, 6, 30))
    assert_top_answer(get_json(client, url, headers=auth("lboro")), full, 10)
    # Only one bound: the other side stays open (no defaults without sub_item).
    body = get_json(client, "/top/views/article?start_date=2025-07-01")
    assert_top_answer(body, ranking(DATASET.public, "views", "article", date(2025, 7, 1)), 10)


@pytest.mark.parametrize("slug", [None, "ryerson"])
def test_top_articles(client: httpx.Client, slug: str | None) -> None:
    prefix = "" if slug is None else f"/{slug}"
    headers = {} if slug is None else auth(slug)
    body = get_json(client, f"{prefix}/top/views/article", headers=headers)
    assert_top_answer(body, ranking(scope(slug), "views", "article"), 10)


@pytest.mark.parametrize("item", ["author", "group", "collection", "project"])
def test_top_objects_of_each_kind(client: httpx.Client, item: str) -> None:
    body = get_json(client, f"/top/downloads/{item}?count=4")
    assert_top_answer(body, ranking(DATASET.public, "downloads", item), 4)


def test_top_categories_inside_a_group(client: httpx.Client) -> None:
    group = DEMO_GROUP_IDS[0]
    url = (
        f"/monash/top/views/group?item_id={group}&sub_item=category&count=3"
        "&start_date=2024-01-01&end_date=2024-12-31"
    )
    full = ranking(
        scope("monash"),
        "views",
        "group",
        date(2024, 1, 1),
        date(2024, 12, 31),
        item_id=group,
        sub_item="category",
    )
    assert_top_answer(get_json(client, url, headers=auth("monash")), full, 3)


@pytest.mark.parametrize(
    ("counter", "item", "item_id", "sub_item", "count"),
    [
        ("views", "project", DEMO_PROJECT_IDS[0], "referral", 2),
        ("shares", "author", DEMO_AUTHOR_IDS[0], "item_type", 3),
    ],
)
def test_rankings_inside_an_item_default_to_current_month(
    client: httpx.Client, counter: str, item: str, item_id: int, sub_item: str, count: int
) -> None:
    url = f"/top/{counter}/{item}?item_id={item_id}&count={count}&sub_item={sub_item}"
    body = get_json(client, url)
    full = ranking(DATASET.public, counter, item, MONTH_START, TODAY, item_id=item_id, sub_item=sub_item)
    assert_top_answer(body, full, count)
    assert body["top"]


def test_top_articles_inside_an_author(client: httpx.Client) -> None:
    author = DEMO_AUTHOR_IDS[0]
    full = ranking(DATASET.public, "views", "author", item_id=author)
    assert_top_answer(get_json(client, f"/top/views/author?item_id={author}"), full, 10)
    assert str(ART) in full


def test_top_count_is_capped_at_100(client: httpx.Client) -> None:
    full = ranking(DATASET.public, "views", "article")
    assert len(full) > 100
    assert_top_answer(get_json(client, "/top/views/article?count=500"), full, 100)


def test_top_empty_form(client: httpx.Client) -> None:
    assert get_json(client, f"/top/views/author?item_id={UNKNOWN_ID}") == {"top": {}}
    assert get_json(client, "/top/views/article?start_date=2014-01-01&end_date=2014-12-31") == {"top": {}}


def test_top_with_id_in_path_does_not_exist(client: httpx.Client) -> None:
    url = f"/lboro/top/views/article/{ART}?start_date=2025-01-01&end_date=2025-06-30"
    response = client.get(url, headers=auth("lboro"))
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# ---------------------------------------------------------------------------------------------
# R6: count articles
# ---------------------------------------------------------------------------------------------


def test_count_articles(client: httpx.Client) -> None:
    response = client.post(
        "/count/articles", json={"groups": [{"id": 327}, {"id": 328}, {"id": 329}, {"id": 99}]}
    )
    assert response.status_code == 200
    expected = {str(g): public_articles(DATASET.public, g) for g in (327, 328, 329, 99)}
    assert response.json() == expected
    assert expected["327"] > 0
    assert expected["99"] == 0
    in_group = sum(1 for a in DATASET.public.articles.values() if a.group_id == 327)
    assert expected["327"] <= in_group


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"groups": 3}', b'{"groups": [{"id": "x"}]}', b'{"groups": [5]}', b"{}"]
)
def test_count_articles_malformed_body(client: httpx.Client, body: bytes) -> None:
    response = client.post("/count/articles", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParams"
    assert response.json()["data"]["invalid_params"] == "groups"


# ---------------------------------------------------------------------------------------------
# Routing, shapes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/melbourne/total/views/article/1"),
        ("GET", "/nowhere/timeline/month/views/group/234"),
        ("GET", "/"),
        ("GET", "/v2/articles"),
        ("GET", "/lboro"),
        ("GET", "/lboro/stats/views"),
        ("GET", "/timeline/month/views/article"),
        ("GET", "/count/articles"),
        ("POST", "/lboro/count/articles"),
        ("POST", f"/total/views/article/{ART}"),
    ],
)
def test_unknown_routes_and_institutions(client: httpx.Client, method: str, url: str) -> None:
    response = client.request(method, url, json={"groups": []} if method == "POST" else None)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_keys_are_shuffled_deterministically(client: httpx.Client) -> None:
    url = f"/timeline/day/views/article/{ART}?start_date=2025-04-01&end_date=2025-07-20"
    first = list(get_json(client, url)["timeline"])
    assert first == list(get_json(client, url)["timeline"])
    assert len(first) > 20
    assert first != sorted(first)
    assert first != sorted(first, reverse=True)


def test_keys_in_order_when_not_shuffled() -> None:
    with served(build(shuffle_keys=False)) as upstream:
        url = f"{upstream.url}/timeline/day/views/article/{ART}?start_date=2025-04-01&end_date=2025-07-20"
        response = httpx.get(url)
    assert response.status_code == 200
    timeline = response.json()["timeline"]
    assert list(timeline) == sorted(timeline)


def test_exclusive_end_date() -> None:
    with served(build(inclusive_end=False)) as upstream:
        url = f"{upstream.url}/timeline/day/views/article/{ART}?start_date=2025-07-10&end_date=2025-07-20"
        timeline = httpx.get(url).json()["timeline"]
    rows = rows_of(DATASET.public, "article", ART, "views", date(2025, 7, 10), date(2025, 7, 19))
    assert timeline == timeline_of(rows, "day")
    assert "2025-07-20" not in timeline


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    slug=st.sampled_from([None, "lboro", "monash", "ryerson"]),
    granularity=st.sampled_from(["day", "month", "year", "total"]),
    counter=st.sampled_from(["views", "downloads", "shares"]),
    target=st.sampled_from(
        [("article", i) for i in DEMO_ARTICLE_IDS]
        + [("author", i) for i in DEMO_AUTHOR_IDS]
        + [("group", i) for i in DEMO_GROUP_IDS]
        + [("collection", i) for i in DEMO_COLLECTION_IDS]
        + [("project", i) for i in DEMO_PROJECT_IDS]
        + [("group", 330), ("author", 13470)]
    ),
    start=st.dates(date(2020, 6, 1), TODAY),
    days=st.integers(0, 900),
)
def test_timeline_matches_the_data(
    client: httpx.Client,
    slug: str | None,
    granularity: str,
    counter: str,
    target: tuple[str, int],
    start: date,
    days: int,
) -> None:
    item, item_id = target
    end = start + timedelta(days=days)
    prefix = "" if slug is None else f"/{slug}"
    headers = {} if slug is None else auth(slug)
    url = f"{prefix}/timeline/{granularity}/{counter}/{item}/{item_id}?start_date={start}&end_date={end}"
    body = get_json(client, url, headers=headers)
    rows = rows_of(scope(slug), item, item_id, counter, start, end)
    assert body == {"timeline": timeline_of(rows, granularity)}
