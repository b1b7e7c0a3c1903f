"""Figshare through the gateway: the client cases of figshare-stats-api.md §9 written as GraphQL.

Each test checks the answer and the exact upstream requests the gateway made (method, path,
query parameters, and whether ``Authorization`` was sent). Expected numbers come from
``tests.figshare_oracle``, computed straight from the emulator's data set (its articles and event
rows) by the upstream contract's rules, without the gateway's or the emulator's aggregation code.

Today is 2026-11-20 (``conftest.TODAY``), so the upstream's default window of timelines,
breakdowns and item-level rankings is 2026-11-01..2026-11-20.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from gateway.emulators.figshare_data import (
    DEMO_INSTITUTIONS,
    EventRow,
    FigshareDataset,
    ScopeData,
    basic_header,
)
from tests.conftest import TODAY, Gateway, GatewayFactory, Upstream, call, codes, data_of, window
from tests.figshare_oracle import assert_top, places, ranking, rows_of, series, total

MONTH_START = TODAY.replace(day=1)
ART = 766364  # the first demo article: steady recent traffic and a long tail of places
UNKNOWN = 21332  # the id the upstream's own examples use; not in the data set
CRED = {slug: basic_header(*pair) for slug, pair in DEMO_INSTITUTIONS.items()}

Countries = dict[str, tuple[int, dict[str, int]]]  # country -> (count, top cities)


def one_breakdown_answer(rows: list[EventRow]) -> Countries:
    """What one ``breakdown/total`` answer holds (contract §6 R4): per country its full total
    and its top 10 named cities; only the top 200 countries. Ties go by name, as the emulator
    documents."""
    tree = places(rows)
    totals = {country: sum(cities.values()) for country, cities in tree.items()}
    answer = {}
    for country in sorted(totals, key=lambda c: (-totals[c], c))[:200]:
        named = {city: n for city, n in tree[country].items() if city is not None}
        top = sorted(named, key=lambda c: (-named[c], c))[:10]
        answer[country] = (totals[country], {city: named[city] for city in top})
    return answer


def countries_expected(parts: list[list[EventRow]]) -> Countries:
    """The answers of every part, summed per country and per city: what the gateway reports."""
    merged: Countries = {}
    for rows in parts:
        for country, (n, cities) in one_breakdown_answer(rows).items():
            have_n, have_cities = merged.get(country, (0, {}))
            summed = dict(have_cities)
            for city, k in cities.items():
                summed[city] = summed.get(city, 0) + k
            merged[country] = (have_n + n, summed)
    return merged


def assert_countries(got: list[dict[str, Any]], expected: Countries) -> None:
    assert_top([(c["country"], c["count"]) for c in got], {k: v[0] for k, v in expected.items()}, 10**6)
    for entry in got:
        cities = [(c["city"], c["count"]) for c in entry["cities"]]
        assert_top(cities, expected[entry["country"]][1], 10)
        # A country's count includes events without a listed city (contract §6 R4).
        assert sum(n for _, n in cities) <= entry["count"]


def pairs(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["key"], e["count"]) for e in entries]


# ---------------------------------------------------------------------------------------------
# §9 totals (no credentials anywhere)
# ---------------------------------------------------------------------------------------------


def test_public_totals_per_counter(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.1-2: one all-time ``/total/{counter}/article/{id}`` per counter, no parameters;
    an unknown article is 0, not an error."""
    result = gateway.query(
        """{ figshare { institution
             a: article(id: 766364) { id institution views { total } downloads { total } shares { total } }
             u: article(id: 21332) { views { total } downloads { total } } } }"""
    )
    scope = figshare_dataset.public
    fig = data_of(result)["figshare"]
    assert fig["institution"] is None
    assert fig["a"] == {
        "id": "766364",
        "institution": None,
        "views": {"total": total(rows_of(scope, "article", ART, "views"))},
        "downloads": {"total": total(rows_of(scope, "article", ART, "downloads"))},
        "shares": {"total": total(rows_of(scope, "article", ART, "shares"))},
    }
    assert fig["a"]["views"]["total"] > 0
    assert fig["u"] == {"views": {"total": 0}, "downloads": {"total": 0}}
    figshare.assert_calls(
        call("/total/views/article/766364"),
        call("/total/downloads/article/766364"),
        call("/total/shares/article/766364"),
        call("/total/views/article/21332"),
        call("/total/downloads/article/21332"),
    )


def test_institution_totals_go_without_credentials(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.3 and §9.6: institution totals need no credentials, and a caller's credential is not
    sent on them either; an unknown institution is the upstream's 404 (NOT_FOUND)."""
    result = gateway.query(
        """{ r: figshare(institution: "ryerson") { institution article(id: 766364) { institution views { total } } }
             l: figshare(institution: "lboro") { collection(id: 15) { views { total } downloads { total } } }
             vt: figshare(institution: "virginiatech") { article(id: 21332) { views { total } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    ryerson, lboro = figshare_dataset.institutions["ryerson"], figshare_dataset.institutions["lboro"]
    data = result["data"]
    assert data["r"] == {
        "institution": "ryerson",
        "article": {
            "institution": "ryerson",
            "views": {"total": total(rows_of(ryerson, "article", ART, "views"))},
        },
    }
    assert data["l"]["collection"] == {
        "views": {"total": total(rows_of(lboro, "collection", 15, "views"))},
        "downloads": {"total": total(rows_of(lboro, "collection", 15, "downloads"))},
    }
    assert data["vt"]["article"]["views"] == {"total": None}
    [error] = result["errors"]
    assert error["path"] == ["vt", "article", "views", "total"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["source"] == "FIGSHARE"
    figshare.assert_calls(
        call("/ryerson/total/views/article/766364"),
        call("/lboro/total/views/collection/15"),
        call("/lboro/total/downloads/collection/15"),
        call("/virginiatech/total/views/article/21332"),
    )


# ---------------------------------------------------------------------------------------------
# §9 timelines
# ---------------------------------------------------------------------------------------------


def test_ryerson_group_timelines_over_six_months(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.7: month timelines of views and downloads, the year timeline the client sums, and the
    windowed total, for 2023-05-01..2023-10-28; the §9 group id itself has no data (null timeline)."""
    result = gateway.query(
        """query($s: Date, $e: Date) { figshare(institution: "ryerson") {
             g: group(id: 327) {
               views(startDate: $s, endDate: $e) { total month: series(period: MONTH) { start count }
                                                   year: series(period: YEAR) { start count } }
               downloads(startDate: $s, endDate: $e) { series(period: MONTH) { start count } } }
             none: group(id: 35541) { views(startDate: $s, endDate: $e) { total series(period: MONTH) { start } } } } }""",
        {"s": "2023-05-01", "e": "2023-10-28"},
        x_figshare_authorization=CRED["ryerson"],
    )
    scope = figshare_dataset.institutions["ryerson"]
    first, last = date(2023, 5, 1), date(2023, 10, 28)
    views = rows_of(scope, "group", 327, "views", first, last)
    downloads = rows_of(scope, "group", 327, "downloads", first, last)
    assert views
    got = data_of(result)["figshare"]
    assert got["g"]["views"] == {
        "total": total(views),
        "month": series(views, "MONTH"),
        "year": [{"start": "2023-01-01", "count": total(views)}],
    }
    assert got["g"]["downloads"] == {"series": series(downloads, "MONTH")}
    assert got["none"]["views"] == {"total": 0, "series": []}
    cred, w = CRED["ryerson"], window("2023-05-01", "2023-10-28")
    figshare.assert_calls(
        call("/ryerson/timeline/total/views/group/327", cred, **w),
        call("/ryerson/timeline/month/views/group/327", cred, **w),
        call("/ryerson/timeline/year/views/group/327", cred, **w),
        call("/ryerson/timeline/month/downloads/group/327", cred, **w),
        call("/ryerson/timeline/total/views/group/35541", cred, **w),
        call("/ryerson/timeline/month/views/group/35541", cred, **w),
    )


def test_monthly_timeline_over_two_years(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.8: a monthly timeline over 2020-01-03..2022-05-12 is one request (no span cap on
    timelines, §10 Q4); the data set starts in 2021."""
    result = gateway.query(
        """{ figshare(institution: "lboro") { group(id: 328) {
             views(startDate: "2020-01-03", endDate: "2022-05-12") { series(period: MONTH) { start count } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    rows = rows_of(
        figshare_dataset.institutions["lboro"], "group", 328, "views", date(2020, 1, 3), date(2022, 5, 12)
    )
    got = data_of(result)["figshare"]["group"]["views"]["series"]
    assert got == series(rows, "MONTH")
    assert got[0]["start"] >= "2021-01-01"
    figshare.assert_calls(
        call("/lboro/timeline/month/views/group/328", CRED["lboro"], **window("2020-01-03", "2022-05-12")),
    )


def test_public_timelines_without_dates_cover_the_current_month(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.9: public month timelines with no dates and no credentials; ``{"timeline": null}`` (an
    unknown article, or no shares) is an empty series."""
    result = gateway.query(
        """{ figshare { a: article(id: 766364) { views { series(period: MONTH) { start count timeSpent } }
                                                 downloads { series(period: MONTH) { start count } } }
                        u: article(id: 21332) { views { series(period: MONTH) { start } } shares { series(period: DAY) { start } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    scope = figshare_dataset.public
    got = data_of(result)["figshare"]
    views = total(rows_of(scope, "article", ART, "views", MONTH_START, TODAY))
    downloads = total(rows_of(scope, "article", ART, "downloads", MONTH_START, TODAY))
    assert got["a"] == {
        "views": {"series": [{"start": "2026-11-01", "count": views, "timeSpent": None}]},
        "downloads": {"series": [{"start": "2026-11-01", "count": downloads}]},
    }
    assert got["u"] == {"views": {"series": []}, "shares": {"series": []}}
    figshare.assert_calls(
        call("/timeline/month/views/article/766364"),
        call("/timeline/month/downloads/article/766364"),
        call("/timeline/month/views/article/21332"),
        call("/timeline/day/shares/article/21332"),
    )


def test_institution_daily_timelines_without_dates(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.10: daily timelines of every counter in an institution scope, with credentials, no dates."""
    result = gateway.query(
        """{ figshare(institution: "monash") { article(id: 766364) {
             views { series(period: DAY) { start count } } downloads { series(period: DAY) { start count } }
             shares { series(period: DAY) { start count } } } } }""",
        x_figshare_authorization=CRED["monash"],
    )
    scope = figshare_dataset.institutions["monash"]
    got = data_of(result)["figshare"]["article"]
    for counter in ("views", "downloads", "shares"):
        assert got[counter]["series"] == series(
            rows_of(scope, "article", ART, counter, MONTH_START, TODAY), "DAY"
        )
    assert len(got["views"]["series"]) == TODAY.day  # the demo article has views every day
    cred = CRED["monash"]
    figshare.assert_calls(
        call("/monash/timeline/day/views/article/766364", cred),
        call("/monash/timeline/day/downloads/article/766364", cred),
        call("/monash/timeline/day/shares/article/766364", cred),
    )


def test_long_window_and_filtered_all_time_total(
    make_gateway: GatewayFactory, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.11: a day timeline from 1970-01-01 is sent as is (where the series bound allows its 16,966
    days); a filtered total without dates is the ``total`` timeline from 1970-01-01 to today."""
    gateway = make_gateway(max_series_points=20_000)
    result = gateway.query(
        """{ figshare(institution: "monash") {
             article(id: 766364) { views(startDate: "1970-01-01", endDate: "2016-06-13") { series(period: DAY) { start } } }
             group(id: 327) { views(filter: {itemType: "dataset"}) { total } } } }""",
        x_figshare_authorization=CRED["monash"],
    )
    scope = figshare_dataset.institutions["monash"]
    got = data_of(result)["figshare"]
    assert got["article"]["views"]["series"] == []
    expected = total(rows_of(scope, "group", 327, "views", narrowed=("item_type", "dataset")))
    assert expected > 0
    assert got["group"]["views"]["total"] == expected
    cred = CRED["monash"]
    figshare.assert_calls(
        call("/monash/timeline/day/views/article/766364", cred, **window("1970-01-01", "2016-06-13")),
        call(
            "/monash/timeline/total/views/group/327",
            cred,
            sub_item="item_type",
            sub_item_id="dataset",
            **window("1970-01-01", TODAY.isoformat()),
        ),
    )


def test_documented_timeline_cases(gateway: Gateway, figshare: Upstream) -> None:
    """§9.12: the documentation's timeline requests, filters as sub_item/sub_item_id (the data
    set has nothing in 2014, so every answer is empty)."""
    result = gateway.query(
        """{ figshare(institution: "monash") { group(id: 10) {
             views(startDate: "2014-03-01", endDate: "2014-03-04", filter: {itemType: "dataset"}) { series(period: DAY) { start } }
             shares(startDate: "2014-01-03", endDate: "2014-05-12", filter: {categoryId: 2}) { series(period: MONTH) { start } } } } }""",
        x_figshare_authorization=CRED["monash"],
    )
    assert data_of(result)["figshare"]["group"] == {"views": {"series": []}, "shares": {"series": []}}
    result = gateway.query(
        """{ figshare(institution: "lboro") { collection(id: 15) {
             views(startDate: "2014-01-02", endDate: "2014-03-05") { total } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    assert data_of(result)["figshare"]["collection"] == {"views": {"total": 0}}
    figshare.assert_calls(
        call(
            "/monash/timeline/day/views/group/10",
            CRED["monash"],
            sub_item="item_type",
            sub_item_id="dataset",
            **window("2014-03-01", "2014-03-04"),
        ),
        call(
            "/monash/timeline/month/shares/group/10",
            CRED["monash"],
            sub_item="category",
            sub_item_id="2",
            **window("2014-01-03", "2014-05-12"),
        ),
        call(
            "/lboro/timeline/total/views/collection/15", CRED["lboro"], **window("2014-01-02", "2014-03-05")
        ),
    )


# ---------------------------------------------------------------------------------------------
# §9 breakdown (countries)
# ---------------------------------------------------------------------------------------------


def test_ryerson_group_countries_over_six_months(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.13: one ``breakdown/total`` request for a window under a year; each country's count is
    its ``total``, which may exceed its listed cities."""
    result = gateway.query(
        """{ figshare(institution: "ryerson") { group(id: 327) {
             views(startDate: "2023-05-01", endDate: "2023-10-31") { countries { country count cities { city count } } } } } }""",
        x_figshare_authorization=CRED["ryerson"],
    )
    rows = rows_of(
        figshare_dataset.institutions["ryerson"], "group", 327, "views", date(2023, 5, 1), date(2023, 10, 31)
    )
    got = data_of(result)["figshare"]["group"]["views"]["countries"]
    assert got
    assert_countries(got, countries_expected([rows]))
    figshare.assert_calls(
        call(
            "/ryerson/breakdown/total/views/group/327", CRED["ryerson"], **window("2023-05-01", "2023-10-31")
        ),
    )


def test_lboro_article_countries_yearly_and_default(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.14: 2021-01-01..2022-01-01 spans exactly one year, the upstream's cap, so it is one
    request, as the client sends it; without dates the upstream's default window (this month) is
    asked for, with no dates."""
    result = gateway.query(
        """{ figshare(institution: "lboro") { article(id: 766364) {
             views(startDate: "2021-01-01", endDate: "2022-01-01") { countries { country count cities { city count } } }
             downloads { countries { country count cities { city count } } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    scope = figshare_dataset.institutions["lboro"]
    got = data_of(result)["figshare"]["article"]
    parts = [rows_of(scope, "article", ART, "views", date(2021, 1, 1), date(2022, 1, 1))]
    assert_countries(got["views"]["countries"], countries_expected(parts))
    recent = rows_of(scope, "article", ART, "downloads", MONTH_START, TODAY)
    assert got["downloads"]["countries"]
    assert_countries(got["downloads"]["countries"], countries_expected([recent]))
    cred = CRED["lboro"]
    figshare.assert_calls(
        call("/lboro/breakdown/total/views/article/766364", cred, **window("2021-01-01", "2022-01-01")),
        call("/lboro/breakdown/total/downloads/article/766364", cred),
    )


def test_documented_breakdown_cases(gateway: Gateway, figshare: Upstream) -> None:
    """§9.17: the documentation's breakdown requests as ``countries``: public ones carry no
    credential, a window over a year is split at the year, a filter is sub_item/sub_item_id, and
    melbourne without credentials is UNAUTHENTICATED before any request."""
    result = gateway.query(
        """{ p: figshare { article(id: 766364) {
               a: views(startDate: "2017-04-19", endDate: "2017-04-21") { countries { country } }
               b: views(startDate: "2015-04-19", endDate: "2016-04-21") { countries { country } } } }
             l: figshare(institution: "lboro") { group(id: 17) {
               downloads(startDate: "2015-02-11", endDate: "2015-05-17", filter: {itemType: "fileset"}) { countries { country } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    got = data_of(result)
    assert got["p"]["article"] == {"a": {"countries": []}, "b": {"countries": []}}
    assert got["l"]["group"] == {"downloads": {"countries": []}}
    figshare.assert_calls(
        call("/breakdown/total/views/article/766364", **window("2017-04-19", "2017-04-21")),
        call("/breakdown/total/views/article/766364", **window("2015-04-19", "2016-04-19")),
        call("/breakdown/total/views/article/766364", **window("2016-04-20", "2016-04-21")),
        call(
            "/lboro/breakdown/total/downloads/group/17",
            CRED["lboro"],
            sub_item="item_type",
            sub_item_id="fileset",
            **window("2015-02-11", "2015-05-17"),
        ),
    )

    figshare.log.clear()
    result = gateway.query(
        '{ figshare(institution: "melbourne") { group(id: 234) { views { countries { country } } } } }'
    )
    assert result["data"]["figshare"]["group"]["views"]["countries"] is None
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["path"] == ["figshare", "group", "views", "countries"]
    assert len(figshare.log) == 0


# ---------------------------------------------------------------------------------------------
# §9 tops
# ---------------------------------------------------------------------------------------------


def test_lboro_top_articles(gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset) -> None:
    """§9.18: the top ten articles by views and downloads, all time and in a window; the gateway
    sends ``count`` (not the client's ``n``) and the credential."""
    result = gateway.query(
        """{ figshare(institution: "lboro") {
             views: top(counter: VIEWS) { key count }
             downloads: top(counter: DOWNLOADS, itemKind: ARTICLE) { key count }
             h1: top(counter: VIEWS, startDate: "2025-01-01", endDate: "2025-06-30") { key count } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    scope = figshare_dataset.institutions["lboro"]
    got = data_of(result)["figshare"]
    assert_top(pairs(got["views"]), ranking(scope, "views", "article"), 10)
    assert_top(pairs(got["downloads"]), ranking(scope, "downloads", "article"), 10)
    h1 = ranking(scope, "views", "article", date(2025, 1, 1), date(2025, 6, 30))
    assert_top(pairs(got["h1"]), h1, 10)
    assert len(got["views"]) == 10
    cred = CRED["lboro"]
    figshare.assert_calls(
        call("/lboro/top/views/article", cred, count="10"),
        call("/lboro/top/downloads/article", cred, count="10"),
        call("/lboro/top/views/article", cred, count="10", **window("2025-01-01", "2025-06-30")),
    )


def test_top_articles_institution_and_public(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.19: the same ranking in the ryerson scope (credential sent) and the public scope (none
    sent, although the caller has one); other item kinds rank their own ids."""
    result = gateway.query(
        """{ r: figshare(institution: "ryerson") { top(counter: VIEWS) { key count } }
             p: figshare { top(counter: VIEWS, limit: 5) { key count }
                           groups: top(counter: DOWNLOADS, itemKind: GROUP, limit: 3) { key count } } }""",
        x_figshare_authorization=CRED["ryerson"],
    )
    got = data_of(result)
    assert_top(
        pairs(got["r"]["top"]), ranking(figshare_dataset.institutions["ryerson"], "views", "article"), 10
    )
    public = figshare_dataset.public
    assert_top(pairs(got["p"]["top"]), ranking(public, "views", "article"), 5)
    assert_top(pairs(got["p"]["groups"]), ranking(public, "downloads", "group"), 3)
    assert {k for k, _ in pairs(got["p"]["groups"])} <= {str(g) for g in public.groups}
    figshare.assert_calls(
        call("/ryerson/top/views/article", CRED["ryerson"], count="10"),
        call("/top/views/article", count="5"),
        call("/top/downloads/group", count="3"),
    )


def test_top_with_a_token_instead_of_basic_is_forbidden(gateway: Gateway, figshare: Upstream) -> None:
    """§9.20: ``Authorization: token …`` is the wrong scheme; the gateway passes it on as given
    and the upstream's 403 is FORBIDDEN from FIGSHARE."""
    result = gateway.query(
        '{ figshare(institution: "monash") { top(counter: VIEWS, limit: 5) { key } } }',
        x_figshare_authorization="token 0123456789abcdef",
    )
    assert result["data"]["figshare"]["top"] is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["source"] == "FIGSHARE"
    assert error["path"] == ["figshare", "top"]
    assert "0123456789abcdef" not in json.dumps(result)
    figshare.assert_calls(call("/monash/top/views/article", "token 0123456789abcdef", count="5"))


def test_documented_item_rankings(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.21: rankings inside one object are ``/top/{counter}/{item}?item_id=…&sub_item=…``;
    without dates the upstream's default window (this month) applies."""
    result = gateway.query(
        """{ m: figshare(institution: "monash") {
               g2: group(id: 2) { top(counter: VIEWS, by: CATEGORY, limit: 3, startDate: "2014-01-01", endDate: "2014-12-31") { key } }
               g: group(id: 327) { top(counter: VIEWS, by: CATEGORY, limit: 3, startDate: "2026-01-01", endDate: "2026-10-31") { key count } } }
             p: figshare { project(id: 13) { top(counter: VIEWS, by: REFERRAL, limit: 2) { key count } }
                           author(id: 13456) { top(counter: SHARES, by: ITEM_TYPE, limit: 3) { key count } } } }""",
        x_figshare_authorization=CRED["monash"],
    )
    got = data_of(result)
    monash, public = figshare_dataset.institutions["monash"], figshare_dataset.public
    assert got["m"]["g2"]["top"] == []
    by_category = ranking(
        monash, "views", "group", date(2026, 1, 1), date(2026, 10, 31), item_id=327, sub_item="category"
    )
    assert_top(pairs(got["m"]["g"]["top"]), by_category, 3)
    referrals = ranking(public, "views", "project", MONTH_START, TODAY, item_id=13, sub_item="referral")
    assert_top(pairs(got["p"]["project"]["top"]), referrals, 2)
    assert len(got["p"]["project"]["top"]) == 2
    types = ranking(public, "shares", "author", MONTH_START, TODAY, item_id=13456, sub_item="item_type")
    assert_top(pairs(got["p"]["author"]["top"]), types, 3)
    cred = CRED["monash"]
    figshare.assert_calls(
        call(
            "/monash/top/views/group",
            cred,
            item_id="2",
            sub_item="category",
            count="3",
            **window("2014-01-01", "2014-12-31"),
        ),
        call(
            "/monash/top/views/group",
            cred,
            item_id="327",
            sub_item="category",
            count="3",
            **window("2026-01-01", "2026-10-31"),
        ),
        call("/top/views/project", item_id="13", sub_item="referral", count="2"),
        call("/top/shares/author", item_id="13456", sub_item="item_type", count="3"),
    )


# ---------------------------------------------------------------------------------------------
# §9 count
# ---------------------------------------------------------------------------------------------


def test_count_articles_of_three_groups(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """§9.23: three groups' public article counts are one ``POST /count/articles`` with the
    documented body, public and without credentials."""
    result = gateway.query(
        """{ figshare { a: group(id: 327) { publicArticleCount } b: group(id: 328) { publicArticleCount }
                        c: group(id: 329) { publicArticleCount } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    articles = figshare_dataset.public.articles.values()
    expected = {g: sum(1 for a in articles if a.group_id == g and a.is_public) for g in (327, 328, 329)}
    got = data_of(result)["figshare"]
    assert {k: v["publicArticleCount"] for k, v in got.items()} == {
        "a": expected[327],
        "b": expected[328],
        "c": expected[329],
    }
    assert all(n > 0 for n in expected.values())
    [request] = figshare.log.requests
    assert (request.method, request.path, request.query) == ("POST", "/count/articles", ())
    assert request.header("authorization") is None
    assert request.header("content-type") == "application/json"
    assert json.loads(request.body) == {"groups": [{"id": 327}, {"id": 328}, {"id": 329}]}


# ---------------------------------------------------------------------------------------------
# Weeks, long geolocation windows, fillGaps, limits, filters
# ---------------------------------------------------------------------------------------------


def test_week_series_is_daily_timeline_summed_into_monday_weeks(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """WEEK asks for the daily timeline of the window and sums it into weeks starting on Monday;
    the first week starts before the window (2026-09-09 is a Wednesday) but counts only its days."""
    result = gateway.query(
        """{ figshare(institution: "lboro") { group(id: 327) {
             views(startDate: "2026-09-09", endDate: "2026-11-18") { total series(period: WEEK) { start count } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    first, last = date(2026, 9, 9), date(2026, 11, 18)
    rows = rows_of(figshare_dataset.institutions["lboro"], "group", 327, "views", first, last)
    got = data_of(result)["figshare"]["group"]["views"]
    expected = series(rows, "WEEK")
    assert got["series"] == expected
    assert expected[0]["start"] == "2026-09-07"
    assert len(expected) == 11
    assert all(date.fromisoformat(b["start"]).weekday() == 0 for b in got["series"])
    assert sum(b["count"] for b in got["series"]) == got["total"] == total(rows)
    cred, w = CRED["lboro"], window("2026-09-09", "2026-11-18")
    figshare.assert_calls(
        call("/lboro/timeline/day/views/group/327", cred, **w),
        call("/lboro/timeline/total/views/group/327", cred, **w),
    )


def test_week_series_of_a_sparse_article_with_gaps_filled(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """WEEK with fillGaps lists every Monday from the window's first week to its last, zeros
    included, and the non-zero weeks match the data set."""
    scope = figshare_dataset.public
    article = sparse_article(scope)
    rows = rows_of(scope, "article", article, "views", date(2021, 1, 1), TODAY)
    result = gateway.query(
        """query($id: ID!) { figshare { article(id: $id) {
             views(startDate: "2021-01-01", endDate: "2026-11-20") { series(period: WEEK, fillGaps: true) { start count } } } } }""",
        {"id": str(article)},
    )
    got = data_of(result)["figshare"]["article"]["views"]["series"]
    mondays = [
        date(2020, 12, 28) + timedelta(weeks=i)
        for i in range((date(2026, 11, 16) - date(2020, 12, 28)).days // 7 + 1)
    ]
    assert [b["start"] for b in got] == [d.isoformat() for d in mondays]
    assert [b for b in got if b["count"]] == series(rows, "WEEK")
    figshare.assert_calls(
        call(f"/timeline/day/views/article/{article}", **window("2021-01-01", "2026-11-20"))
    )


def sparse_article(scope: ScopeData) -> int:
    """The article with the fewest days of views: most buckets of its series are empty."""
    days: dict[int, set[date]] = {}
    for r in scope.rows:
        if r.counter == "views":
            days.setdefault(r.article_id, set()).add(r.day)
    return min(days, key=lambda a: (len(days[a]), a))


def test_countries_over_more_than_five_years_are_fetched_per_year(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """2021-03-15..2026-06-30 is fetched as parts of at most one year (the upstream's clamp), each
    from its start to the same day a year later, and the answers summed per country and city. Two windows ending today show
    the cuts: a part the upstream cut to 200 countries, and cities summed over parts cut to 10."""
    result = gateway.query(
        """{ figshare { article(id: 766364) {
             long: views(startDate: "2021-03-15", endDate: "2026-06-30") { total countries { country count cities { city count } } }
             wide: views(startDate: "2024-12-01", endDate: "2026-11-20") { countries { country count cities { city count } } }
             cities: views(startDate: "2025-05-01", endDate: "2026-11-20") { countries { country count cities { city count } } } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    scope = figshare_dataset.public
    got = data_of(result)["figshare"]["article"]
    parts = {
        "long": [(date(2021 + i, 3, 15 + i), date(2022 + i, 3, 15 + i)) for i in range(5)]
        + [(date(2026, 3, 20), date(2026, 6, 30))],
        "wide": [(date(2024, 12, 1), date(2025, 12, 1)), (date(2025, 12, 2), TODAY)],
        "cities": [(date(2025, 5, 1), date(2026, 5, 1)), (date(2026, 5, 2), TODAY)],
    }
    rows = {
        name: [rows_of(scope, "article", ART, "views", a, b) for a, b in spans]
        for name, spans in parts.items()
    }
    for name in parts:
        assert_countries(got[name]["countries"], countries_expected(rows[name]))
    assert sum(c["count"] for c in got["long"]["countries"]) == got["long"]["total"] > 0
    # The second part of "wide" has more than 200 countries, so the upstream left some out.
    assert len({r.country for r in rows["wide"][1]}) > 200
    assert len(got["wide"]["countries"]) < len({r.country for part in rows["wide"] for r in part})
    # Over the parts of "cities" some country has more than ten listed cities: ten are kept.
    assert any(len(c) > 10 for _, c in countries_expected(rows["cities"]).values())
    assert max(len(c["cities"]) for c in got["cities"]["countries"]) == 10

    figshare.assert_calls(
        call("/timeline/total/views/article/766364", **window("2021-03-15", "2026-06-30")),
        *(
            call("/breakdown/total/views/article/766364", **window(a.isoformat(), b.isoformat()))
            for spans in parts.values()
            for a, b in spans
        ),
    )


def test_countries_of_a_long_institution_window_with_a_limit(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """The parts of a long window all carry the credential; ``limit`` keeps the top countries of
    the summed answer."""
    result = gateway.query(
        """{ figshare(institution: "monash") { group(id: 327) { downloads(startDate: "2023-06-01", endDate: "2025-07-15") {
             top3: countries(limit: 3) { country count } all: countries { country count } none: countries(limit: 0) { country } } } } }""",
        x_figshare_authorization=CRED["monash"],
    )
    scope = figshare_dataset.institutions["monash"]
    parts = [
        (date(2023, 6, 1), date(2024, 6, 1)),
        (date(2024, 6, 2), date(2025, 6, 2)),
        (date(2025, 6, 3), date(2025, 7, 15)),
    ]
    expected = countries_expected([rows_of(scope, "group", 327, "downloads", a, b) for a, b in parts])
    got = data_of(result)["figshare"]["group"]["downloads"]
    counts = {k: v[0] for k, v in expected.items()}
    assert_top([(c["country"], c["count"]) for c in got["top3"]], counts, 3)
    assert_top([(c["country"], c["count"]) for c in got["all"]], counts, 10**6)
    assert got["top3"] == got["all"][:3]
    assert got["none"] == []
    # The three countries fields share one set of parts.
    figshare.assert_calls(
        *(
            call(
                "/monash/breakdown/total/downloads/group/327",
                CRED["monash"],
                **window(a.isoformat(), b.isoformat()),
            )
            for a, b in parts
        ),
    )


def test_negative_countries_limit_is_bad_user_input(gateway: Gateway, figshare: Upstream) -> None:
    result = gateway.query(
        "{ figshare { article(id: 766364) { views { countries(limit: -1) { country } } } } }"
    )
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result["data"]["figshare"]["article"]["views"]["countries"] is None
    assert len(figshare.log) == 0


def test_fill_gaps(gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset) -> None:
    """fillGaps adds the empty buckets: over the given window; with open ends, from the first
    bucket the upstream returned to today; an empty timeline with a window is all zeros, and
    without one stays empty."""
    scope = figshare_dataset.public
    article = sparse_article(scope)
    first_day = min(r.day for r in rows_of(scope, "article", article, "views"))
    start = first_day - timedelta(days=3)
    end = first_day + timedelta(days=40)
    result = gateway.query(
        """query($id: ID!, $s: Date, $e: Date) { figshare {
             sparse: article(id: $id) { views(startDate: $s, endDate: $e) {
               plain: series(period: DAY) { start count } filled: series(period: DAY, fillGaps: true) { start count }
               months: series(period: MONTH, fillGaps: true) { start count } } }
             demo: article(id: 766364) { views { series(period: DAY, fillGaps: true) { start count } } }
             none: article(id: 21332) { shares(startDate: "2026-10-30", endDate: "2026-11-02") { series(period: DAY, fillGaps: true) { start count } }
                                        views { series(period: MONTH, fillGaps: true) { start } } } } }""",
        {"id": str(article), "s": start.isoformat(), "e": end.isoformat()},
    )
    got = data_of(result)["figshare"]
    rows = rows_of(scope, "article", article, "views", start, end)
    daily = {b["start"]: b["count"] for b in series(rows, "DAY")}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    views = got["sparse"]["views"]
    assert views["plain"] == series(rows, "DAY")
    assert views["filled"] == [{"start": d.isoformat(), "count": daily.get(d.isoformat(), 0)} for d in days]
    assert any(b["count"] == 0 for b in views["filled"])
    monthly = {b["start"]: b["count"] for b in series(rows, "MONTH")}
    month_starts = sorted({d.replace(day=1).isoformat() for d in days})
    assert views["months"] == [{"start": m, "count": monthly.get(m, 0)} for m in month_starts]

    recent = {
        b["start"]: b["count"]
        for b in series(rows_of(scope, "article", ART, "views", MONTH_START, TODAY), "DAY")
    }
    first_returned = min(recent)
    open_days = [
        date.fromisoformat(first_returned) + timedelta(days=i)
        for i in range((TODAY - date.fromisoformat(first_returned)).days + 1)
    ]
    assert got["demo"]["views"]["series"] == [
        {"start": d.isoformat(), "count": recent.get(d.isoformat(), 0)} for d in open_days
    ]

    assert got["none"]["shares"]["series"] == [
        {"start": d, "count": 0} for d in ("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02")
    ]
    assert got["none"]["views"]["series"] == []
    # One timeline per period, whether or not gaps are filled.
    w = window(start.isoformat(), end.isoformat())
    figshare.assert_calls(
        call(f"/timeline/day/views/article/{article}", **w),
        call(f"/timeline/month/views/article/{article}", **w),
        call("/timeline/day/views/article/766364"),
        call("/timeline/day/shares/article/21332", **window("2026-10-30", "2026-11-02")),
        call("/timeline/month/views/article/21332"),
    )


def test_filters_narrow_every_counts_field(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """categoryId and itemType become sub_item/sub_item_id on the total, series and countries
    requests, and the numbers are those of the matching articles only."""
    result = gateway.query(
        """{ figshare(institution: "lboro") { group(id: 327) {
             cat: views(startDate: "2026-06-01", endDate: "2026-11-20", filter: {categoryId: "39"}) {
               total series(period: MONTH) { start count } countries(limit: 2) { country count } }
             type: downloads(startDate: "2026-06-01", endDate: "2026-11-20", filter: {itemType: "dataset"}) { total }
             all: downloads(startDate: "2026-06-01", endDate: "2026-11-20") { total } } } }""",
        x_figshare_authorization=CRED["lboro"],
    )
    scope = figshare_dataset.institutions["lboro"]
    first, last = date(2026, 6, 1), TODAY
    cat = rows_of(scope, "group", 327, "views", first, last, ("category", "39"))
    typed = rows_of(scope, "group", 327, "downloads", first, last, ("item_type", "dataset"))
    every = rows_of(scope, "group", 327, "downloads", first, last)
    got = data_of(result)["figshare"]["group"]
    assert got["cat"]["total"] == total(cat) > 0
    assert got["cat"]["series"] == series(cat, "MONTH")
    counts = {k: v[0] for k, v in countries_expected([cat]).items()}
    assert_top([(c["country"], c["count"]) for c in got["cat"]["countries"]], counts, 2)
    assert 0 < got["type"]["total"] == total(typed) < got["all"]["total"] == total(every)
    cred, w = CRED["lboro"], window("2026-06-01", "2026-11-20")
    by_cat = {"sub_item": "category", "sub_item_id": "39", **w}
    figshare.assert_calls(
        call("/lboro/timeline/total/views/group/327", cred, **by_cat),
        call("/lboro/timeline/month/views/group/327", cred, **by_cat),
        call("/lboro/breakdown/total/views/group/327", cred, **by_cat),
        call(
            "/lboro/timeline/total/downloads/group/327",
            cred,
            sub_item="item_type",
            sub_item_id="dataset",
            **w,
        ),
        call("/lboro/timeline/total/downloads/group/327", cred, **w),
    )


@pytest.mark.parametrize(
    "given",
    [
        '{categoryId: 2, itemType: "dataset"}',
        "{}",
        "{categoryId: null, itemType: null}",
        '{categoryId: "two"}',
        '{itemType: "Data Set"}',
    ],
)
def test_bad_filters_are_rejected_before_any_request(
    gateway: Gateway, figshare: Upstream, given: str
) -> None:
    """Both or neither of categoryId/itemType, or a value the upstream would not read, is
    BAD_USER_INPUT on that field alone, with no request; its siblings still answer."""
    result = gateway.query(
        f"""{{ figshare(institution: "lboro") {{ group(id: 327) {{ institution
             views(filter: {given}) {{ total series(period: DAY) {{ start }} countries {{ country }} }} }} }} }}""",
        x_figshare_authorization=CRED["lboro"],
    )
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["path"] == ["figshare", "group", "views"]
    assert result["data"]["figshare"]["group"] == {"institution": "lboro", "views": None}
    assert len(figshare.log) == 0


@pytest.mark.parametrize("limit", [0, -3, 101])
def test_top_limit_out_of_range_is_rejected_before_any_request(
    gateway: Gateway, figshare: Upstream, limit: int
) -> None:
    result = gateway.query(
        """query($n: Int!) { figshare { top(counter: VIEWS, limit: $n) { key }
                                        article(id: 766364) { top(counter: VIEWS, by: REFERRAL, limit: $n) { key } } } }""",
        {"n": limit},
    )
    assert codes(result) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert result["data"]["figshare"] == {"top": None, "article": {"top": None}}
    assert len(figshare.log) == 0


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-02-30", None), ("2026-11-21x", None), ("2026-06-02", "2026-06-01"), (None, "20260601")],
)
def test_bad_dates_are_rejected_before_any_request(
    gateway: Gateway, figshare: Upstream, start: str | None, end: str | None
) -> None:
    result = gateway.query(
        """query($s: Date, $e: Date) { figshare { article(id: 766364) { id
             views(startDate: $s, endDate: $e) { total series(period: DAY) { start } countries { country } }
             top(counter: VIEWS, by: CATEGORY, startDate: $s, endDate: $e) { key } } } }""",
        {"s": start, "e": end},
    )
    assert codes(result) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert sorted(e["path"][-1] for e in result["errors"]) == ["top", "views"]
    assert result["data"]["figshare"]["article"] == {"id": "766364", "views": None, "top": None}
    assert len(figshare.log) == 0


def test_total_with_one_open_end(
    gateway: Gateway, figshare: Upstream, figshare_dataset: FigshareDataset
) -> None:
    """A total with only endDate counts from the beginning (1970-01-01 is sent, so the upstream's
    default start, the end's month, does not apply); with only startDate it counts to today."""
    result = gateway.query(
        """{ figshare { article(id: 766364) {
             upTo: views(endDate: "2026-06-30") { total } since: views(startDate: "2026-06-01") { total } } } }"""
    )
    scope = figshare_dataset.public
    up_to = total(rows_of(scope, "article", ART, "views", None, date(2026, 6, 30)))
    june = total(rows_of(scope, "article", ART, "views", date(2026, 6, 1), date(2026, 6, 30)))
    assert up_to > june
    assert data_of(result)["figshare"]["article"] == {
        "upTo": {"total": up_to},
        "since": {"total": total(rows_of(scope, "article", ART, "views", date(2026, 6, 1), TODAY))},
    }
    figshare.assert_calls(
        call("/timeline/total/views/article/766364", **window("1970-01-01", "2026-06-30")),
        call("/timeline/total/views/article/766364", start_date="2026-06-01"),
    )
