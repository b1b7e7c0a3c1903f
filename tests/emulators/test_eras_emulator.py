"""The ERAS emulator against eras-api.md, over real loopback HTTP.

Expected numbers come from ``tests.eras_oracle``, a plain computation over the dataset's own events,
never from the emulator's internals. The dataset and today are this file's own (today is
``END``, a Sunday), so the documented cases keep their dates.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.emulators.eras import build_eras_emulator
from gateway.emulators.eras_data import (
    DEMO_GROUPS,
    DEMO_PROJECT_IDS,
    DEMO_TOKENS,
    DEMO_USER_IDS,
    DEMO_WORKFLOW_IDS,
    EXPIRED_TOKEN,
    GROUP_ADMIN_ID,
    GROUP_ADMIN_TOKEN,
    OUTSIDER_ID,
    OUTSIDER_TOKEN,
    PANOPTES_ADMIN_TOKEN,
    SECOND_VOLUNTEER_ID,
    SECOND_VOLUNTEER_TOKEN,
    STATS_VISIBILITIES,
    VOLUNTEER_ID,
    VOLUNTEER_TOKEN,
    ClassificationEvent,
    ErasDataset,
)
from tests.calendar_oracle import bucket_start
from tests.conftest import served
from tests.eras_oracle import (
    classifications,
    comments,
    label,
    last_days,
    tally,
    utc_day,
    whole_seconds,
    wire_series,
)

END = date(2024, 6, 30)  # a Sunday
TODAY = END
JSON = {"Accept": "application/json"}

INVALID_DATE = "Invalid date."
INVALID_RANGE = "Date range entered is not valid"
INVALID_PERIOD = "Invalid bucket option. Valid options for period is day, week, month, or year"
BOTH_FILTERS = "Cannot query by workflow and project. Either query by one or the other"
CONTRIBUTIONS_WITH_FILTER = "Cannot query for project contributions and query by project/workflow"
BAD_ORDER = "Can only order project contributions by recents or count. Default behavior is count"
BREAKDOWN_WITH_MORE = (
    "Cannot query individual stats breakdown with anything else EXCEPT start_date and end_date"
)
NO_HEADER = "Missing Authorization header"
NO_BEARER = "Missing Bearer token"
PANOPTES_SAYS_NO = "Could not check authentication with Panoptes"
NOT_ALLOWED = "not allowed to show? this Symbol"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dataset() -> ErasDataset:
    return ErasDataset.generate(seed=11, start=date(2023, 1, 1), end=END)


@pytest.fixture(scope="module")
def client(dataset: ErasDataset) -> Iterator[httpx.Client]:
    emulator = build_eras_emulator(dataset, today=lambda: TODAY)
    with served(emulator) as upstream, httpx.Client(base_url=upstream.url, timeout=10) as http:
        yield http


# ---------------------------------------------------------------- helpers


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> Any:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"error": message}
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" not in response.headers


# ---------------------------------------------------------------- the dataset


def test_session_time_follows_the_ingestion_rules() -> None:
    t0 = datetime(2024, 1, 1, 12, tzinfo=UTC)

    def event(started: datetime | None, finished: datetime | None) -> ClassificationEvent:
        return ClassificationEvent(1, t0, 1, 1, 1, (), started, finished)

    assert event(None, t0).session_time == 0
    assert event(t0, None).session_time == 0
    assert event(t0 + timedelta(seconds=5), t0).session_time == 0
    assert event(t0 - timedelta(seconds=3, milliseconds=146), t0).session_time == 3.146
    assert event(t0 - timedelta(hours=5), t0).session_time == 10800
    assert event(t0 - timedelta(hours=3), t0).session_time == 10800


def test_generation_is_deterministic_and_covers_the_edge_cases(dataset: ErasDataset) -> None:
    assert ErasDataset.generate(seed=11, start=date(2023, 1, 1), end=END) == dataset
    assert ErasDataset.generate(seed=12, start=date(2023, 1, 1), end=END) != dataset
    events = dataset.classifications
    assert 3000 <= len(events) <= 30000
    assert min(utc_day(e.created_at) for e in events) == date(2023, 1, 1)
    assert max(utc_day(e.created_at) for e in events) == END
    assert {e.project_id for e in events} == set(DEMO_PROJECT_IDS)
    assert {e.workflow_id for e in events} == set(DEMO_WORKFLOW_IDS)
    assert len({e.user_id for e in events if e.user_id is not None}) >= 35
    assert any(e.user_id is None for e in events)
    assert any(e.user_id is None and e.user_group_ids for e in events)
    assert any(len(set(e.user_group_ids)) < len(e.user_group_ids) for e in events)
    assert any(e.started_at is None or e.finished_at is None for e in events)
    assert any(e.started_at and e.finished_at and e.started_at > e.finished_at for e in events)
    assert any(
        e.started_at and e.finished_at and (e.finished_at - e.started_at).total_seconds() > 10800
        for e in events
    )
    assert any(c.project_id is None for c in dataset.comments)
    assert any(c.user_id is None for c in dataset.comments)


def test_well_known_identities(dataset: ErasDataset) -> None:
    panoptes = dataset.panoptes
    assert set(DEMO_GROUPS.values()) == set(STATS_VISIBILITIES)
    assert {g: panoptes.groups[g].stats_visibility for g in panoptes.groups} == dict(DEMO_GROUPS)
    users = {token: panoptes.me(token) for token in DEMO_TOKENS}
    assert all(user is not None for user in users.values())
    assert panoptes.me(EXPIRED_TOKEN) is None
    me = panoptes.me(PANOPTES_ADMIN_TOKEN)
    assert me is not None
    assert me.admin
    for gid in (42, 43, 44, 45, 46):
        assert panoptes.membership_roles(VOLUNTEER_ID, gid) == ("group_member",)
        assert panoptes.membership_roles(GROUP_ADMIN_ID, gid) == ("group_admin",)
        assert panoptes.membership_roles(OUTSIDER_ID, gid) is None
    assert panoptes.membership_roles(SECOND_VOLUNTEER_ID, 47) == ("group_admin",)
    for user_id in DEMO_USER_IDS:
        assert any(e.user_id == user_id and utc_day(e.created_at) == END for e in dataset.classifications)
        assert any(c.user_id == user_id for c in dataset.comments)


# ---------------------------------------------------------------- routing and HTTP


def test_status_route(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"revision": "fcd08d4"}


@pytest.mark.parametrize(
    "path",
    [
        "/classifications/",
        "/classifications.json",
        "/classifications.json/",
    ],
)
def test_trailing_slash_and_format_suffix_route_the_same(client: httpx.Client, path: str) -> None:
    assert client.get(path).json() == client.get("/classifications").json()


def test_user_route_with_slash_before_the_query(client: httpx.Client) -> None:
    plain = get_json(
        client, f"/classifications/users/{VOLUNTEER_ID}?period=day", headers=bearer(VOLUNTEER_TOKEN)
    )
    slashed = get_json(
        client, f"/classifications/users/{VOLUNTEER_ID}/?period=day", headers=bearer(VOLUNTEER_TOKEN)
    )
    suffixed = get_json(
        client, f"/classifications/users/{VOLUNTEER_ID}.json?period=day", headers=bearer(VOLUNTEER_TOKEN)
    )
    assert plain == slashed == suffixed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/classifications/users/abc"),
        ("GET", "/classifications/users/"),
        ("GET", "/classifications/user_groups/4x2"),
        ("GET", "/classifications/users/-1"),
        ("GET", "/classifications/users/12."),
        ("GET", "/statistics"),
        ("POST", "/classifications"),
        ("DELETE", "/comments"),
        ("PUT", "/classifications/users/1"),
        ("OPTIONS", "/classifications"),
        ("GET", "/kinesis"),
    ],
)
def test_unknown_routes_and_methods_are_404(client: httpx.Client, method: str, path: str) -> None:
    as_json = client.request(method, path, headers=JSON)
    assert as_json.status_code == 404
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert as_json.json() == {"status": 404, "error": "Not Found"}
    for accept in ("*/*", "text/html", "application/json, text/plain, */*"):
        empty = client.request(method, path, headers={"Accept": accept})
        assert empty.status_code == 404
        assert empty.headers["content-type"].startswith("text/html")
        assert empty.content == b""


def test_head_answers_like_get_without_a_body(client: httpx.Client) -> None:
    got = client.get("/classifications?period=year")
    head = client.head("/classifications?period=year")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))


def test_rails_cache_headers_and_conditional_get(client: httpx.Client) -> None:
    response = client.get("/comments?period=month")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["etag"] == f'W/"{hashlib.md5(response.content).hexdigest()}"'
    assert response.headers["cache-control"] == "max-age=0, private, must-revalidate"
    assert response.headers["x-request-id"]
    assert float(response.headers["x-runtime"]) >= 0

    fresh = client.get("/comments?period=month", headers={"If-None-Match": response.headers["etag"]})
    assert fresh.status_code == 304
    assert fresh.content == b""
    assert "content-type" not in fresh.headers
    assert fresh.headers["etag"] == response.headers["etag"]

    stale = client.get("/comments?period=month", headers={"If-None-Match": 'W/"other"'})
    assert stale.status_code == 200


def test_request_id_is_echoed_when_sent(client: httpx.Client) -> None:
    response = client.get("/", headers={"X-Request-Id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"


def headers_of(response: httpx.Response, *names: str) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in names}


def test_cors(client: httpx.Client) -> None:
    plain = client.get("/classifications")
    assert headers_of(plain, "vary", "access-control-allow-origin") == {
        "vary": "Origin",
        "access-control-allow-origin": None,
    }

    cross = client.get("/classifications/users/1", headers={"Origin": "https://www.zooniverse.org"})
    assert cross.status_code == 403
    assert headers_of(cross, *CORS) == CORS

    preflight = client.options(
        "/classifications/users/1",
        headers={
            "Origin": "https://www.zooniverse.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert (preflight.status_code, preflight.content) == (200, b"")
    assert headers_of(preflight, *PREFLIGHT) == PREFLIGHT


# What rack-cors adds to every cross-origin answer, and to a preflight's.
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    "access-control-expose-headers": "",
    "access-control-max-age": "7200",
    "vary": "Origin",
}
PREFLIGHT = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "authorization",
    "access-control-max-age": "7200",
}


def test_kinesis_refuses_without_credentials(client: httpx.Client) -> None:
    response = client.post("/kinesis", json={"payload": []})
    assert response.status_code == 403
    assert response.content == b""


# ---------------------------------------------------------------- requests real clients send (§8)

_V = VOLUNTEER_ID
_KEYS_A = ["total_count", "time_spent", "active_users"]
CLIENT_REQUESTS: list[tuple[str, str | None, list[str]]] = [
    ("/classifications", None, ["total_count"]),
    ("/classifications?project_id=1234&end_date=2024-06-30&start_date=2019-03-14", None, ["total_count"]),
    (
        "/classifications?end_date=2024-06-30&period=month&project_id=1234&start_date=2023-01-01",
        None,
        ["total_count", "data"],
    ),
    (
        "/classifications?end_date=2024-06-30&period=day&start_date=2024-06-01&workflow_id=5678",
        None,
        ["total_count", "data"],
    ),
    (
        "/comments?end_date=2024-06-30&period=week&project_id=1234&start_date=2024-04-01",
        None,
        ["total_count", "data"],
    ),
    (
        "/classifications?period=day&workflow_id=5678&start_date=2024-06-16&end_date=2024-06-29",
        None,
        ["total_count", "data"],
    ),
    (
        f"/classifications/users/{_V}/?end_date=2024-06-30&period=day&start_date=2024-06-24&project_id=1234",
        VOLUNTEER_TOKEN,
        ["total_count", "data"],
    ),
    (
        f"/classifications/users/{_V}/?end_date=2024-06-30&period=year&start_date=2021-02-03&project_id=1234",
        VOLUNTEER_TOKEN,
        ["total_count", "data"],
    ),
    (
        f"/classifications/users/{_V}?end_date=2024-06-30&period=day&start_date=2024-06-24"
        "&project_contributions=true&time_spent=true",
        VOLUNTEER_TOKEN,
        ["total_count", "time_spent", "project_contributions", "data"],
    ),
    (
        f"/classifications/users/{_V}?end_date=2024-06-30&period=day&start_date=2024-06-24"
        "&project_id=1234&time_spent=true",
        VOLUNTEER_TOKEN,
        ["total_count", "time_spent", "data"],
    ),
    (
        f"/classifications/users/{_V}?end_date=2024-06-30&period=year&start_date=2015-06-01"
        "&project_contributions=true",
        VOLUNTEER_TOKEN,
        ["total_count", "project_contributions", "data"],
    ),
    (
        f"/classifications/users/{_V}?end_date=2024-06-30&start_date=2024-01-01&time_spent=true"
        "&project_contributions=true",
        VOLUNTEER_TOKEN,
        ["total_count", "time_spent", "project_contributions"],
    ),
    (f"/classifications/users/{_V}?period=day&project_id=1234", VOLUNTEER_TOKEN, ["total_count", "data"]),
    (
        f"/classifications/users/{_V}?project_contributions=true",
        VOLUNTEER_TOKEN,
        ["total_count", "project_contributions"],
    ),
    (
        f"/classifications/users/{_V}?time_spent=true&period=year",
        VOLUNTEER_TOKEN,
        ["total_count", "time_spent", "data"],
    ),
    (
        "/classifications/user_groups/42?end_date=2024-06-30&period=week&start_date=2024-04-01&top_contributors=10",
        "undefined",
        [*_KEYS_A, "project_contributions", "top_contributors", "data"],
    ),
    (
        "/classifications/user_groups/42?end_date=2024-06-30&period=week&start_date=2024-04-01"
        "&project_id=1234&top_contributors=10",
        VOLUNTEER_TOKEN,
        [*_KEYS_A, "top_contributors", "data"],
    ),
    ("/classifications/user_groups/42?", "undefined", [*_KEYS_A, "project_contributions"]),
    ("/classifications/user_groups/45?", VOLUNTEER_TOKEN, [*_KEYS_A, "project_contributions"]),
    (
        "/classifications/user_groups/42?individual_stats_breakdown=true",
        None,
        ["group_member_stats_breakdown"],
    ),
    ("/comments?project_id=1234,335", None, ["total_count"]),
    (f"/comments?user_id={_V}", None, ["total_count"]),
    (f"/comments?project_id=1234&user_id={_V}", None, ["total_count"]),
    ("/comments?period=week", None, ["total_count", "data"]),
    (
        "/classifications?project_id=1234,4321&period=day&start_date=2024-06-01&end_date=2024-06-08",
        None,
        ["total_count", "data"],
    ),
]


@pytest.mark.parametrize(("url", "token", "keys"), CLIENT_REQUESTS)
def test_requests_real_clients_send(
    client: httpx.Client, url: str, token: str | None, keys: list[str]
) -> None:
    # The front end names the header in lower case.
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    answer = get_json(client, url, headers=headers)
    assert list(answer) == keys


def test_a_client_that_sends_the_bare_token(client: httpx.Client) -> None:
    response = client.get(
        f"/classifications/users/{VOLUNTEER_ID}?project_contributions=true",
        headers={"Authorization": VOLUNTEER_TOKEN},
    )
    assert_error(response, 403, NO_BEARER)


# ---------------------------------------------------------------- validation (§2.2)

VALIDATION_CASES = [
    ("/classifications?start_date=2020-01-32", INVALID_DATE),
    ("/classifications?end_date=2024-13-01", INVALID_DATE),
    ("/classifications?start_date=", INVALID_DATE),
    ("/classifications?start_date=20230105", INVALID_DATE),
    ("/classifications?start_date=2023-01-05T12:00:00Z", INVALID_DATE),
    ("/classifications?end_date=yesterday", INVALID_DATE),
    ("/classifications?start_date=2024-05-02&end_date=2024-05-01", INVALID_RANGE),
    ("/comments?period=hour", INVALID_PERIOD),
    ("/comments?period=", INVALID_PERIOD),
    ("/classifications?workflow_id=1&project_id=2", BOTH_FILTERS),
    ("/classifications?workflow_id=&project_id=", BOTH_FILTERS),
    ("/comments?workflow_id=1&project_id=2", BOTH_FILTERS),
    ("/classifications/users/1?project_contributions=true&project_id=1", CONTRIBUTIONS_WITH_FILTER),
    ("/classifications/users/1?project_contributions=false&project_id=5", CONTRIBUTIONS_WITH_FILTER),
    ("/classifications/users/1?project_contributions=true&workflow_id=7", CONTRIBUTIONS_WITH_FILTER),
    ("/classifications/users/1?order_project_contributions_by=blank", BAD_ORDER),
    ("/classifications/users/1?order_project_contributions_by=", BAD_ORDER),
    ("/classifications/user_groups/1?individual_stats_breakdown=true&project_id=1", BREAKDOWN_WITH_MORE),
    ("/classifications/user_groups/42?individual_stats_breakdown=false&period=day", BREAKDOWN_WITH_MORE),
    ("/classifications/user_groups/42?individual_stats_breakdown=true&workflow_id=1", BREAKDOWN_WITH_MORE),
    (
        "/classifications/user_groups/42?individual_stats_breakdown=true&top_contributors=5",
        BREAKDOWN_WITH_MORE,
    ),
    # The first failing check wins.
    (
        "/classifications?start_date=x&end_date=2020-01-32&period=hour&workflow_id=1&project_id=2",
        INVALID_DATE,
    ),
    ("/classifications?end_date=x&start_date=2024-01-01&period=hour", INVALID_DATE),
    ("/classifications?start_date=2024-05-02&end_date=2024-05-01&period=hour", INVALID_RANGE),
    ("/classifications?period=hour&workflow_id=1&project_id=2", INVALID_PERIOD),
    ("/classifications/users/1?workflow_id=1&project_id=2&project_contributions=true", BOTH_FILTERS),
    (
        "/classifications/users/1?project_contributions=true&project_id=1&order_project_contributions_by=x",
        CONTRIBUTIONS_WITH_FILTER,
    ),
    (
        "/classifications/user_groups/42?period=week&individual_stats_breakdown=true&period=hour",
        INVALID_PERIOD,
    ),
    # Validation comes before the group lookup and before any auth.
    ("/classifications/user_groups/999?individual_stats_breakdown=true&period=day", BREAKDOWN_WITH_MORE),
    ("/classifications/user_groups/46?start_date=soon", INVALID_DATE),
]


@pytest.mark.parametrize(("path", "message"), VALIDATION_CASES)
def test_bad_input_is_400_before_auth(client: httpx.Client, path: str, message: str) -> None:
    assert_error(client.get(path), 400, message)


@pytest.mark.parametrize(
    "query",
    [
        "start_date=2024-6-1&end_date=2024-6-9",
        "start_date=2024-06-01&end_date=2024-06-09",
        "start_date=2024-06-01&end_date=2024-06-09&unknown=1&user_id=5",
        "start_date=1999-01-01&start_date=2024-06-01&end_date=2024-06-09",
    ],
)
def test_accepted_date_forms_unknown_and_repeated_params(client: httpx.Client, query: str) -> None:
    expected = get_json(client, "/classifications?start_date=2024-06-01&end_date=2024-06-09")
    assert get_json(client, f"/classifications?{query}") == expected


def test_equal_dates_make_a_one_day_window(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, start=date(2024, 5, 1), end=date(2024, 5, 1))
    answer = get_json(client, "/classifications?start_date=2024-05-01&end_date=2024-05-01&period=day")
    assert answer == {
        "total_count": len(events),
        "data": [{"period": label(date(2024, 5, 1)), "count": len(events)}],
    }


@pytest.mark.parametrize("period", ["MONTH", "Week", "dAy", "YEAR"])
def test_period_is_case_insensitive(client: httpx.Client, period: str) -> None:
    lower = get_json(client, f"/classifications?period={period.lower()}&start_date=2024-01-01")
    assert get_json(client, f"/classifications?period={period}&start_date=2024-01-01") == lower


def test_array_forms(client: httpx.Client, dataset: ErasDataset) -> None:
    crashed = client.get("/classifications?period[]=day", headers=JSON)
    assert crashed.status_code == 500
    assert crashed.json() == {"status": 500, "error": "Internal Server Error"}
    # Dropped by the whitelist: no filter at all.
    assert get_json(client, "/classifications?project_id[]=1234") == {
        "total_count": len(dataset.classifications)
    }
    # Still present for the presence checks.
    assert_error(client.get("/classifications?project_id[]=1&workflow_id=2"), 400, BOTH_FILTERS)
    malformed = client.get("/classifications?project_id=1&project_id[]=2", headers=JSON)
    assert malformed.status_code == 400
    assert malformed.json() == {"status": 400, "error": "Bad Request"}


def test_bad_percent_escape_is_a_bad_request(client: httpx.Client) -> None:
    response = client.get("/comments?project_id=%zz", headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"status": 400, "error": "Bad Request"}


# ---------------------------------------------------------------- /classifications (§4.1)


def test_site_wide_total(client: httpx.Client, dataset: ErasDataset) -> None:
    assert get_json(client, "/classifications") == {"total_count": len(dataset.classifications)}


@pytest.mark.parametrize("period", ["day", "week", "month", "year"])
def test_project_series_in_each_period(client: httpx.Client, dataset: ErasDataset, period: str) -> None:
    start, end = date(2023, 11, 15), date(2024, 2, 20)
    events = classifications(dataset, projects=[1234, 335], start=start, end=end)
    answer = get_json(
        client, f"/classifications?project_id=1234,335&period={period}&start_date={start}&end_date={end}"
    )
    expected = wire_series(events, period)
    assert answer == {"total_count": len(events), "data": expected}
    assert list(answer) == ["total_count", "data"]
    assert all(item["count"] > 0 for item in answer["data"])


def test_weeks_start_on_monday_and_first_bucket_precedes_start(client: httpx.Client) -> None:
    answer = get_json(client, "/classifications?period=week&start_date=2024-06-05&end_date=2024-06-30")
    starts = [date.fromisoformat(item["period"][:10]) for item in answer["data"]]
    assert all(day.weekday() == 0 for day in starts)
    assert starts[0] == date(2024, 6, 3)
    assert starts == sorted(starts)


def test_workflow_filter(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, workflows=[5678, 7016], start=date(2024, 6, 1))
    answer = get_json(client, "/classifications?workflow_id=5678,7016&period=day&start_date=2024-06-01")
    assert answer == {
        "total_count": len(events),
        "data": wire_series(events, "day"),
    }


@pytest.mark.parametrize(
    ("project_id", "projects"),
    [
        ("1234", [1234]),
        ("%201234", [1234]),
        ("1234abc", [1234]),
        (",1234,", [1234]),
        ("1234,,335", [1234, 335]),
        ("abc", []),
        ("0", []),
        ("", None),
        ("%20", None),
        ("335&project_id=1234", [1234]),
    ],
)
def test_id_lists_are_cast_like_ruby(
    client: httpx.Client, dataset: ErasDataset, project_id: str, projects: list[int] | None
) -> None:
    events = classifications(dataset, projects=projects)
    assert get_json(client, f"/classifications?project_id={project_id}") == {"total_count": len(events)}


def test_no_matching_rows(client: httpx.Client) -> None:
    assert get_json(client, "/classifications?project_id=99999") == {"total_count": 0}
    assert get_json(client, "/classifications?project_id=99999&period=day") == {"total_count": 0, "data": []}


def test_start_date_after_today_still_counts_today(client: httpx.Client, dataset: ErasDataset) -> None:
    todays = classifications(dataset, start=TODAY, end=TODAY)
    assert todays
    answer = get_json(client, "/classifications?start_date=2024-07-10&period=week")
    monday = TODAY - timedelta(days=TODAY.weekday())
    assert answer == {"total_count": len(todays), "data": [{"period": label(monday), "count": len(todays)}]}
    assert get_json(client, "/classifications?start_date=2024-07-10&end_date=2024-07-11") == {
        "total_count": len(todays)
    }
    # Without today in the window, only the days asked for count.
    before = classifications(dataset, start=date(2024, 6, 28), end=date(2024, 6, 29))
    assert get_json(client, "/classifications?start_date=2024-06-28&end_date=2024-06-29") == {
        "total_count": len(before)
    }


# ---------------------------------------------------------------- /comments (§4.2)


def test_comment_counts(client: httpx.Client, dataset: ErasDataset) -> None:
    assert get_json(client, "/comments") == {"total_count": len(dataset.comments)}
    assert get_json(client, "/comments?workflow_id=5678") == {"total_count": len(dataset.comments)}

    by_project = comments(dataset, projects=[1234, 335], start=date(2024, 3, 1))
    answer = get_json(client, "/comments?project_id=1234,335&period=week&start_date=2024-03-01")
    assert answer == {
        "total_count": len(by_project),
        "data": wire_series(by_project, "week"),
    }

    by_user = comments(dataset, users=[VOLUNTEER_ID, OUTSIDER_ID])
    assert get_json(client, f"/comments?user_id={VOLUNTEER_ID},{OUTSIDER_ID}") == {
        "total_count": len(by_user)
    }

    both = comments(dataset, projects=[1234], users=[VOLUNTEER_ID])
    assert get_json(client, f"/comments?project_id=1234&user_id={VOLUNTEER_ID}") == {"total_count": len(both)}


def test_present_but_empty_filters_choose_the_aggregate(client: httpx.Client, dataset: ErasDataset) -> None:
    with_user = [c for c in dataset.comments if c.user_id is not None]
    with_project = [c for c in dataset.comments if c.project_id is not None]
    assert len(with_user) < len(dataset.comments)
    assert get_json(client, "/comments?user_id=") == {"total_count": len(with_user)}
    assert get_json(client, "/comments?project_id=&user_id=") == {"total_count": len(with_project)}


# ---------------------------------------------------------------- one volunteer (§3.2, §4.3)


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (bearer(VOLUNTEER_TOKEN), 200, None),
        (bearer(PANOPTES_ADMIN_TOKEN), 200, None),
        (bearer(SECOND_VOLUNTEER_TOKEN), 403, NOT_ALLOWED),
        (bearer(OUTSIDER_TOKEN), 403, NOT_ALLOWED),
        ({}, 403, NO_HEADER),
        ({"Authorization": "Token abc"}, 403, NO_BEARER),
        ({"Authorization": f"bearer {VOLUNTEER_TOKEN}"}, 403, NO_BEARER),
        ({"Authorization": VOLUNTEER_TOKEN}, 403, NO_BEARER),
        ({"Authorization": f"Bearer  {VOLUNTEER_TOKEN}"}, 403, PANOPTES_SAYS_NO),
        (bearer(EXPIRED_TOKEN), 403, PANOPTES_SAYS_NO),
        (bearer("undefined"), 403, PANOPTES_SAYS_NO),
    ],
)
def test_user_route_auth(
    client: httpx.Client, headers: dict[str, str], status: int, message: str | None
) -> None:
    response = client.get(f"/classifications/users/{VOLUNTEER_ID}?period=year", headers=headers)
    if message is None:
        assert response.status_code == status
    else:
        assert_error(response, status, message)


def test_unknown_user_gives_empty_answers(client: httpx.Client) -> None:
    admin = bearer(PANOPTES_ADMIN_TOKEN)
    assert get_json(client, "/classifications/users/42", headers=admin) == {"total_count": 0}
    full = get_json(
        client,
        "/classifications/users/42?time_spent=true&project_contributions=true&period=day",
        headers=admin,
    )
    assert full == {"total_count": 0, "time_spent": 0.0, "project_contributions": [], "data": []}
    assert_error(client.get("/classifications/users/42", headers=bearer(VOLUNTEER_TOKEN)), 403, NOT_ALLOWED)


def test_user_counts_and_float_session_times(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, user=VOLUNTEER_ID, start=date(2024, 1, 1))
    response = client.get(
        f"/classifications/users/{VOLUNTEER_ID}?time_spent=true&period=month&start_date=2024-01-01",
        headers=bearer(VOLUNTEER_TOKEN),
    )
    answer = response.json()
    assert list(answer) == ["total_count", "time_spent", "data"]
    assert answer["total_count"] == len(events)
    assert answer["time_spent"] == pytest.approx(sum(e.session_time for e in events), rel=1e-12)
    counts, seconds = tally(events, lambda e: bucket_start(utc_day(e.created_at), "month"))
    assert [item["period"] for item in answer["data"]] == [label(d) for d in sorted(counts)]
    for item in answer["data"]:
        day = date.fromisoformat(item["period"][:10])
        assert list(item) == ["period", "count", "session_time"]
        assert item["count"] == counts[day]
        assert isinstance(item["session_time"], float)
        assert item["session_time"] == pytest.approx(seconds[day], rel=1e-12)


def test_user_workflow_filter_keeps_floats(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, user=VOLUNTEER_ID, workflows=[5678, 5679])
    answer = get_json(
        client,
        f"/classifications/users/{VOLUNTEER_ID}?time_spent=true&workflow_id=5678,5679&period=year",
        headers=bearer(VOLUNTEER_TOKEN),
    )
    assert answer["total_count"] == len(events)
    assert all(isinstance(item["session_time"], float) for item in answer["data"])


def test_user_project_filter_truncates_each_bucket(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, user=VOLUNTEER_ID, projects=[1234], start=date(2024, 3, 1))
    response = client.get(
        f"/classifications/users/{VOLUNTEER_ID}/?time_spent=true&project_id=1234&period=week&start_date=2024-03-01",
        headers=bearer(VOLUNTEER_TOKEN),
    )
    answer = response.json()
    counts, _seconds = tally(events, lambda e: bucket_start(utc_day(e.created_at), "week"))
    truncated = whole_seconds(events, "week")
    assert answer["data"] == [
        {"period": label(d), "count": counts[d], "session_time": whole} for d, whole in truncated.items()
    ]
    assert all(type(item["session_time"]) is int for item in answer["data"])
    assert answer["time_spent"] == float(sum(truncated.values()))
    assert re.search(r'"time_spent":\d+\.0,', response.text)


def test_project_contributions_sum_truncated_rows(client: httpx.Client, dataset: ErasDataset) -> None:
    start = date(2024, 4, 1)
    events = classifications(dataset, user=VOLUNTEER_ID, start=start)
    answer = get_json(
        client,
        f"/classifications/users/{VOLUNTEER_ID}?time_spent=true&project_contributions=true&period=month&start_date={start}",
        headers=bearer(VOLUNTEER_TOKEN),
    )
    assert list(answer) == ["total_count", "time_spent", "project_contributions", "data"]
    counts, _seconds = tally(events, lambda e: bucket_start(utc_day(e.created_at), "month"))
    truncated = whole_seconds(events, "month")
    assert answer["data"] == [
        {"period": label(m), "count": counts[m], "session_time": whole} for m, whole in truncated.items()
    ]
    assert answer["time_spent"] == float(sum(truncated.values()))
    assert answer["time_spent"].is_integer()

    per_project = Counter(e.project_id for e in events)
    contributions = answer["project_contributions"]
    assert all(list(item) == ["project_id", "count"] for item in contributions)
    assert {item["project_id"]: item["count"] for item in contributions} == per_project
    assert contributions == sorted(contributions, key=lambda item: (-item["count"], item["project_id"]))


def test_time_spent_depends_on_the_bucket_size_with_contributions(client: httpx.Client) -> None:
    url = f"/classifications/users/{VOLUNTEER_ID}?time_spent=true&project_contributions=true"
    yearly = get_json(client, url, headers=bearer(VOLUNTEER_TOKEN))
    daily = get_json(client, url + "&period=day", headers=bearer(VOLUNTEER_TOKEN))
    assert yearly["total_count"] == daily["total_count"]
    assert daily["time_spent"] < yearly["time_spent"]  # finer buckets lose more to truncation


def test_recents_order(client: httpx.Client, dataset: ErasDataset) -> None:
    latest = last_days(classifications(dataset, user=VOLUNTEER_ID))
    answer = get_json(
        client,
        f"/classifications/users/{VOLUNTEER_ID}?project_contributions=true&order_project_contributions_by=RECENTS&period=day",
        headers=bearer(VOLUNTEER_TOKEN),
    )
    expected = sorted(latest, key=lambda p: (-latest[p].toordinal(), p))
    assert [item["project_id"] for item in answer["project_contributions"]] == expected
    assert "time_spent" not in answer


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", False),
        ("yes", False),
        ("false", False),
        ("", False),
    ],
)
def test_boolean_flags(client: httpx.Client, value: str, shown: bool) -> None:
    answer = get_json(
        client, f"/classifications/users/{VOLUNTEER_ID}?time_spent={value}", headers=bearer(VOLUNTEER_TOKEN)
    )
    assert ("time_spent" in answer) is shown


def test_admin_reads_another_user(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, user=SECOND_VOLUNTEER_ID)
    answer = get_json(
        client, f"/classifications/users/{SECOND_VOLUNTEER_ID}", headers=bearer(PANOPTES_ADMIN_TOKEN)
    )
    assert answer == {"total_count": len(events)}


# ---------------------------------------------------------------- user groups (§3.3, §4.4)

GROUP_BY_VISIBILITY = {visibility: gid for gid, visibility in sorted(DEMO_GROUPS.items(), reverse=True)}
CALLERS: dict[str, dict[str, str]] = {
    "anonymous": {},
    "bad token": bearer("undefined"),
    "member": bearer(VOLUNTEER_TOKEN),
    "group admin": bearer(GROUP_ADMIN_TOKEN),
    "outsider": bearer(OUTSIDER_TOKEN),
    "panoptes admin": bearer(PANOPTES_ADMIN_TOKEN),
}
# Who may see what (§3.3): None means anyone, without a token.
AGGREGATE_NEEDS = {
    "public_show_all": None,
    "public_agg_show_ind_if_member": None,
    "public_agg_only": None,
    "private_show_agg_and_ind": "member",
    "private_agg_only": "member",
}
BREAKDOWN_NEEDS = {
    "public_show_all": None,
    "public_agg_show_ind_if_member": "member",
    "public_agg_only": "group admin",
    "private_show_agg_and_ind": "member",
    "private_agg_only": "group admin",
}


def expected_outcome(need: str | None, caller: str) -> tuple[int, str | None]:
    if need is None:
        return 200, None
    if caller == "anonymous":
        return 403, NO_HEADER
    if caller == "bad token":
        return 403, PANOPTES_SAYS_NO
    allowed = caller in ("panoptes admin", "group admin") or (need == "member" and caller == "member")
    return (200, None) if allowed else (403, NOT_ALLOWED)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("visibility", STATS_VISIBILITIES)
@pytest.mark.parametrize("breakdown", [False, True])
def test_group_visibility_matrix(client: httpx.Client, visibility: str, caller: str, breakdown: bool) -> None:
    gid = GROUP_BY_VISIBILITY[visibility]
    query = "?individual_stats_breakdown=true" if breakdown else ""
    needs = BREAKDOWN_NEEDS if breakdown else AGGREGATE_NEEDS
    status, message = expected_outcome(needs[visibility], caller)
    response = client.get(f"/classifications/user_groups/{gid}{query}", headers=CALLERS[caller])
    if message is None:
        assert response.status_code == status, response.text
        assert ("group_member_stats_breakdown" in response.json()) is breakdown
    else:
        assert_error(response, status, message)


@pytest.mark.parametrize("header", ["Token abc", "Bearer undefined", "", "Bearer"])
def test_public_aggregates_never_look_at_the_header(client: httpx.Client, header: str) -> None:
    for gid in (42, 43, 44):
        response = client.get(f"/classifications/user_groups/{gid}", headers={"Authorization": header})
        assert response.status_code == 200


def test_group_token_problems_on_a_private_group(client: httpx.Client) -> None:
    assert_error(
        client.get("/classifications/user_groups/46", headers={"Authorization": "Token x"}), 403, NO_BEARER
    )
    assert_error(
        client.get("/classifications/user_groups/46", headers=bearer(EXPIRED_TOKEN)), 403, PANOPTES_SAYS_NO
    )


def test_unknown_group_is_404_before_any_login(client: httpx.Client) -> None:
    for headers in ({}, bearer(EXPIRED_TOKEN), bearer(PANOPTES_ADMIN_TOKEN)):
        response = client.get(
            "/classifications/user_groups/999?individual_stats_breakdown=true", headers=headers
        )
        assert response.status_code == 404
        assert "Could not find user_group with id='999'" in response.json()["error"]


def test_group_aggregate_numbers(client: httpx.Client, dataset: ErasDataset) -> None:
    start, end = date(2023, 6, 1), date(2024, 5, 31)
    events = classifications(dataset, group=42, start=start, end=end)
    response = client.get(
        f"/classifications/user_groups/42?start_date={start}&end_date={end}&period=month&top_contributors=5"
    )
    answer = response.json()
    assert list(answer) == [
        "total_count",
        "time_spent",
        "active_users",
        "project_contributions",
        "top_contributors",
        "data",
    ]
    assert answer["total_count"] == len(events)
    assert answer["time_spent"] == pytest.approx(sum(e.session_time for e in events), rel=1e-12)
    assert answer["active_users"] == len({e.user_id for e in events})

    counts, seconds = tally(events, lambda e: e.project_id)
    projects = answer["project_contributions"]
    assert {p["project_id"]: p["count"] for p in projects} == counts
    for item in projects:
        assert list(item) == ["project_id", "count", "session_time"]
        assert item["session_time"] == pytest.approx(seconds[item["project_id"]], rel=1e-12)
    assert projects == sorted(projects, key=lambda p: (-p["count"], p["project_id"]))

    user_counts, user_seconds = tally(events, lambda e: e.user_id)
    ranked = sorted(user_counts, key=lambda u: (-user_counts[u], u))[:5]
    assert answer["top_contributors"] == [
        {"user_id": u, "count": user_counts[u], "session_time": int(user_seconds[u] + 1e-7)} for u in ranked
    ]
    assert all(type(item["session_time"]) is int for item in answer["top_contributors"])

    month_counts, month_seconds = tally(events, lambda e: bucket_start(utc_day(e.created_at), "month"))
    assert [(d["period"], d["count"]) for d in answer["data"]] == [
        (label(m), month_counts[m]) for m in sorted(month_counts)
    ]
    for item in answer["data"]:
        assert item["session_time"] == pytest.approx(
            month_seconds[date.fromisoformat(item["period"][:10])], rel=1e-12
        )


def test_group_counts_need_a_user_and_count_each_group_once(
    client: httpx.Client, dataset: ErasDataset
) -> None:
    # The dataset holds anonymous classifications that list groups, and repeated group ids.
    admin = bearer(PANOPTES_ADMIN_TOKEN)
    for gid in DEMO_GROUPS:
        credited = [e for e in dataset.classifications if gid in e.user_group_ids and e.user_id is not None]
        answer = get_json(client, f"/classifications/user_groups/{gid}", headers=admin)
        assert answer["total_count"] == len(credited)


def test_group_project_filter(client: httpx.Client, dataset: ErasDataset) -> None:
    events = classifications(dataset, group=44, projects=[1234])
    answer = get_json(
        client, "/classifications/user_groups/44?project_id=1234&top_contributors=3&period=year"
    )
    assert list(answer) == ["total_count", "time_spent", "active_users", "top_contributors", "data"]
    assert answer["total_count"] == len(events)
    assert all(isinstance(item["session_time"], float) for item in answer["top_contributors"])
    counts, seconds = tally(events, lambda e: e.user_id)
    for item in answer["top_contributors"]:
        assert item["count"] == counts[item["user_id"]]
        assert item["session_time"] == pytest.approx(seconds[item["user_id"]], rel=1e-12)
    # Present but empty: no filter, yet project_contributions is still left out.
    empty = get_json(client, "/classifications/user_groups/44?workflow_id=")
    assert "project_contributions" not in empty
    assert empty["total_count"] == len(classifications(dataset, group=44))


@pytest.mark.parametrize(("value", "size"), [("0", 0), ("abc", 0), ("", 0), ("2abc", 2), ("1000", None)])
def test_top_contributors_reads_like_to_i(
    client: httpx.Client, dataset: ErasDataset, value: str, size: int | None
) -> None:
    answer = get_json(client, f"/classifications/user_groups/42?top_contributors={value}")
    everyone = len({e.user_id for e in classifications(dataset, group=42)})
    assert len(answer["top_contributors"]) == (everyone if size is None else size)


def test_negative_top_contributors_is_500_after_auth(client: httpx.Client) -> None:
    crashed = client.get("/classifications/user_groups/42?top_contributors=-1", headers=JSON)
    assert crashed.status_code == 500
    assert crashed.json() == {"status": 500, "error": "Internal Server Error"}
    assert client.get("/classifications/user_groups/42?top_contributors=-1").content == b""
    assert_error(client.get("/classifications/user_groups/46?top_contributors=-1"), 403, NO_HEADER)


def test_empty_group_window(client: httpx.Client) -> None:
    answer = get_json(client, "/classifications/user_groups/42?start_date=2030-01-01")
    assert answer == {"total_count": 0, "time_spent": 0.0, "active_users": 0, "project_contributions": []}


def test_member_breakdown(client: httpx.Client, dataset: ErasDataset) -> None:
    start = date(2023, 3, 1)
    events = classifications(dataset, group=44, start=start)
    answer = get_json(
        client,
        f"/classifications/user_groups/44?individual_stats_breakdown=true&start_date={start}",
        headers=bearer(GROUP_ADMIN_TOKEN),
    )
    members = answer["group_member_stats_breakdown"]
    assert list(answer) == ["group_member_stats_breakdown"]
    user_counts, user_seconds = tally(events, lambda e: e.user_id)
    cell_counts, cell_seconds = tally(events, lambda e: (e.user_id, e.project_id))
    assert [m["user_id"] for m in members] == sorted(user_counts, key=lambda u: (-user_counts[u], u))
    for member in members:
        uid = member["user_id"]
        assert list(member) == ["user_id", "count", "session_time", "project_contributions"]
        assert member["count"] == user_counts[uid]
        assert member["session_time"] == pytest.approx(user_seconds[uid], rel=1e-12)
        projects = member["project_contributions"]
        assert projects == sorted(projects, key=lambda p: (-p["count"], p["project_id"]))
        for item in projects:
            assert list(item) == ["project_id", "count", "session_time"]
            assert item["count"] == cell_counts[(uid, item["project_id"])]
            assert isinstance(item["session_time"], float)
            assert item["session_time"] == pytest.approx(cell_seconds[(uid, item["project_id"])], rel=1e-12)
    # Groups are credited as recorded at classification time: a former member still shows.
    assert OUTSIDER_ID in user_counts


# ---------------------------------------------------------------- property: any window, any period


@settings(max_examples=30, deadline=None)
@given(
    start=st.dates(date(2022, 12, 20), date(2024, 7, 5)),
    length=st.integers(0, 400),
    period=st.sampled_from(["day", "week", "month", "year"]),
    projects=st.sets(st.sampled_from(DEMO_PROJECT_IDS), max_size=3),
)
def test_any_window_matches_the_reference(
    client: httpx.Client, dataset: ErasDataset, start: date, length: int, period: str, projects: set[int]
) -> None:
    end = start + timedelta(days=length)
    chosen = projects or None
    query = f"period={period}&start_date={start}&end_date={end}"
    if projects:
        query += "&project_id=" + ",".join(map(str, sorted(projects)))
    events = classifications(dataset, projects=chosen, start=start, end=min(end, TODAY))
    if end >= TODAY and start > TODAY:  # the "today" quirk of §6.2
        events = classifications(dataset, projects=chosen, start=TODAY, end=TODAY)
    expected = {"total_count": len(events), "data": wire_series(events, period)}
    assert get_json(client, f"/classifications?{query}") == expected

    mine = classifications(dataset, user=VOLUNTEER_ID, projects=chosen, start=start, end=end)
    answer = get_json(
        client, f"/classifications/users/{VOLUNTEER_ID}?{query}", headers=bearer(VOLUNTEER_TOKEN)
    )
    assert answer == {"total_count": len(mine), "data": wire_series(mine, period)}
