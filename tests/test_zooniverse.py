"""Zooniverse through the gateway, over loopback against the ERAS emulator.

Each test writes a real client's request pattern (eras-api.md §8) as GraphQL and checks the answer
against ``tests.eras_oracle`` (a computation over the emulator's own events), and the exact ERAS
requests made.
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from gateway.emulators import eras_data as demo
from gateway.emulators.eras_data import ErasDataset
from tests.conftest import TODAY, Gateway, GatewayFactory, Upstream, call, codes, data_of, window
from tests.eras_oracle import classifications, comments, last_days, series, whole_seconds

BEARER = f"Bearer {demo.VOLUNTEER_TOKEN}"
USER_PATH = f"/classifications/users/{demo.VOLUNTEER_ID}"


# A request to the volunteer's users route, carrying the volunteer's bearer token.
as_volunteer = functools.partial(call, USER_PATH, BEARER)


def counts_of(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A series without its timeSpent, to compare with the oracle's."""
    return [{"start": b["start"], "count": b["count"]} for b in got]


# ------------------------------------------------------------------ public routes (§8 1-4)


def test_home_page_total(gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset) -> None:
    data = data_of(gateway.query("{ zooniverse { classifications { total } } }"))
    assert data["zooniverse"]["classifications"]["total"] == len(eras_dataset.classifications)
    eras.assert_calls(call("/classifications"))


def test_project_statistic_and_chart_share_one_request(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { project(id: $id) {
        classifications(startDate: "2024-01-01", endDate: "2026-08-07") {
          total series(period: MONTH) { start count timeSpent } } } } }"""
    data = data_of(gateway.query(query, {"id": "1234"}, Authorization=BEARER))
    events = classifications(eras_dataset, projects=[1234], start=date(2024, 1, 1), end=date(2026, 8, 7))
    got = data["zooniverse"]["project"]["classifications"]
    assert got["total"] == len(events)
    assert counts_of(got["series"]) == series(events, "month")
    assert all(b["timeSpent"] is None for b in got["series"])  # /classifications has no session time
    # A public route: the bearer never goes there.
    eras.assert_calls(
        call("/classifications", project_id="1234", period="month", **window("2024-01-01", "2026-08-07")),
    )


def test_workflow_chart_and_time_to_completion(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    workflow = demo.PROJECT_WORKFLOWS[1234][0]
    query = """query($w: ID!) { zooniverse { workflow(id: $w) {
        classifications(startDate: "2026-11-06", endDate: "2026-11-19") { total series(period: DAY) { start count } }
    } } }"""
    data = data_of(gateway.query(query, {"w": str(workflow)}))
    events = classifications(
        eras_dataset, workflows=[workflow], start=date(2026, 11, 6), end=date(2026, 11, 19)
    )
    got = data["zooniverse"]["workflow"]["classifications"]
    assert got["total"] == len(events)
    assert got["series"] == series(events, "day")
    eras.assert_calls(
        call(
            "/classifications", workflow_id=str(workflow), period="day", **window("2026-11-06", "2026-11-19")
        ),
    )


def test_comments_tab_and_docs_examples(gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse {
        tab: comments(projectIds: ["1234"], startDate: "2026-05-09", endDate: "2026-11-20") {
          total series(period: WEEK) { start count } }
        two: comments(projectIds: ["1234", "335"]) { total }
        author: comments(userIds: ["%d"]) { total }
        both: comments(projectIds: ["1234"], userIds: ["%d"]) { total }
        weekly: comments { series(period: WEEK) { start count } }
    } }""" % (demo.VOLUNTEER_ID, demo.VOLUNTEER_ID)
    z = data_of(gateway.query(query))["zooniverse"]
    volunteer = [demo.VOLUNTEER_ID]
    tab = comments(eras_dataset, projects=[1234], start=date(2026, 5, 9), end=date(2026, 11, 20))
    assert z["tab"]["total"] == len(tab)
    assert z["tab"]["series"] == series(tab, "week")
    assert all(date.fromisoformat(b["start"]).weekday() == 0 for b in z["tab"]["series"])
    assert z["two"]["total"] == len(comments(eras_dataset, projects=[1234, 335]))
    assert z["author"]["total"] == len(comments(eras_dataset, users=volunteer))
    assert z["both"]["total"] == len(comments(eras_dataset, projects=[1234], users=volunteer))
    assert z["weekly"]["series"] == series(eras_dataset.comments, "week")
    user_id = str(demo.VOLUNTEER_ID)
    eras.assert_calls(
        call("/comments", project_id="1234", period="week", **window("2026-05-09", "2026-11-20")),
        call("/comments", project_id="1234,335"),
        call("/comments", user_id=user_id),
        call("/comments", project_id="1234", user_id=user_id),
        call("/comments", period="week"),
    )


# ------------------------------------------------------------------ the users route (§8 5-9)


def test_user_stats_page_is_one_request_with_every_flag(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        classifications(startDate: "2026-11-01", endDate: "2026-11-20") {
          total timeSpent series(period: DAY) { start count timeSpent }
          projectContributions { project { id } count timeSpent } } } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    stats = data["zooniverse"]["user"]["classifications"]
    events = classifications(
        eras_dataset, user=demo.VOLUNTEER_ID, start=date(2026, 11, 1), end=date(2026, 11, 20)
    )
    assert stats["total"] == len(events)
    # Asked with project_contributions, ERAS sums per (day, project) rows truncated to whole seconds.
    assert stats["timeSpent"] == float(sum(whole_seconds(events, "day").values()))
    assert counts_of(stats["series"]) == series(events, "day")
    assert all(isinstance(b["timeSpent"], float) for b in stats["series"])
    per_project = Counter(str(e.project_id) for e in events)
    assert {c["project"]["id"]: c["count"] for c in stats["projectContributions"]} == dict(per_project)
    counts = [c["count"] for c in stats["projectContributions"]]
    assert counts == sorted(counts, reverse=True)
    eras.assert_calls(
        as_volunteer(
            period="day",
            time_spent="true",
            project_contributions="true",
            **window("2026-11-01", "2026-11-20"),
        ),
    )


def test_user_with_project_selected_and_certificate(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        project: classifications(projectIds: ["1234"], startDate: "2026-11-01", endDate: "2026-11-20") {
          total timeSpent series(period: DAY) { start count } }
        certificate: classifications(startDate: "2026-01-01", endDate: "2026-11-20") {
          total timeSpent projectContributions { project { id } count } }
    } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    user = data["zooniverse"]["user"]
    volunteer = demo.VOLUNTEER_ID
    project = classifications(
        eras_dataset, user=volunteer, projects=[1234], start=date(2026, 11, 1), end=date(2026, 11, 20)
    )
    assert user["project"]["total"] == len(project)
    # With a project filter ERAS truncates each bucket's time to whole seconds.
    assert user["project"]["timeSpent"] == float(sum(whole_seconds(project, "day").values()))
    year = classifications(eras_dataset, user=volunteer, start=date(2026, 1, 1), end=date(2026, 11, 20))
    assert user["certificate"]["total"] == len(year)
    eras.assert_calls(
        as_volunteer(
            project_id="1234", period="day", time_spent="true", **window("2026-11-01", "2026-11-20")
        ),
        as_volunteer(time_spent="true", project_contributions="true", **window("2026-01-01", "2026-11-20")),
    )


def test_all_projects_list_orders_by_recents(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        classifications(startDate: "2025-06-01") { projectContributions(orderBy: RECENTS) { project { id } count } }
    } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    contributions = data["zooniverse"]["user"]["classifications"]["projectContributions"]
    latest = last_days(classifications(eras_dataset, user=demo.VOLUNTEER_ID, start=date(2025, 6, 1)))
    days = [latest[int(c["project"]["id"])] for c in contributions]
    assert days == sorted(days, reverse=True)
    assert len(days) == len(latest)
    eras.assert_calls(
        as_volunteer(
            start_date="2025-06-01",
            period="day",
            project_contributions="true",
            order_project_contributions_by="recents",
        ),
    )


def test_distinct_periods_are_distinct_requests_and_duplicates_are_made_once(
    gateway: Gateway, eras: Upstream
) -> None:
    query = """{ zooniverse {
        a: classifications(projectIds: ["1234"]) { total day: series(period: DAY) { count } month: series(period: MONTH) { count } }
        b: classifications(projectIds: ["1234"]) { total }
    } }"""
    data_of(gateway.query(query))
    eras.assert_calls(
        call("/classifications", project_id="1234", period="day"),
        call("/classifications", project_id="1234", period="month"),
    )


def test_fill_gaps_gives_every_bucket_of_the_window(gateway: Gateway, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse { project(id: "335") {
        classifications(startDate: "2026-10-01", endDate: "2026-10-31") {
          sparse: series(period: DAY) { start count } full: series(period: DAY, fillGaps: true) { start count }
          weeks: series(period: WEEK, fillGaps: true) { start count } } } } }"""
    got = data_of(gateway.query(query))["zooniverse"]["project"]["classifications"]
    assert [b["start"] for b in got["full"]] == [
        (date(2026, 10, 1) + timedelta(days=i)).isoformat() for i in range(31)
    ]
    sparse = {b["start"]: b["count"] for b in got["sparse"]}
    assert all(b["count"] == sparse.get(b["start"], 0) for b in got["full"])
    assert got["weeks"][0]["start"] == "2026-09-28"  # the Monday on or before the window's start
    assert got["weeks"][-1]["start"] == "2026-10-26"
    assert sum(b["count"] for b in got["weeks"]) == sum(sparse.values())


# ------------------------------------------------------------------ validation costs nothing


@pytest.mark.parametrize(
    "field",
    [
        'classifications(startDate: "2020-01-32") { total }',
        'classifications(startDate: "2024/01/02") { total }',
        'classifications(startDate: "2024-05-02", endDate: "2024-05-01") { total }',
        'classifications(projectIds: ["1"], workflowIds: ["2"]) { total }',
        'classifications(projectIds: ["abc"]) { total }',
        "classifications(projectIds: []) { total }",
        "classifications(projectIds: [%s]) { total }" % ",".join(f'"{i}"' for i in range(101)),
        'user(id: "1") { classifications(projectIds: ["1"]) { projectContributions { count } } }',
        'user(id: "1") { classifications(workflowIds: ["1"]) { projectContributions { count } } }',
        'userGroup(id: "42") { classifications(projectIds: ["1"]) { projectContributions { count } } }',
        'userGroup(id: "42") { classifications { topContributors(limit: -1) { count } } }',
        'userGroup(id: "x42") { classifications { total } }',
        'user(id: "1") { classifications(startDate: "2024-01-01", endDate: "2023-01-01") { total } }',
    ],
)
def test_bad_input_is_rejected_before_any_request(gateway: Gateway, eras: Upstream, field: str) -> None:
    result = gateway.query("{ zooniverse { %s } }" % field, Authorization=BEARER)
    assert codes(result) == ["BAD_USER_INPUT"], result
    assert len(eras.log) == 0


def test_bad_date_fails_only_its_field(gateway: Gateway, eras: Upstream) -> None:
    result = gateway.query(
        """query($d: Date) { zooniverse {
            bad: classifications(startDate: $d) { total }
            good: classifications(projectIds: ["335"]) { total } } }""",
        {"d": "yesterday"},
    )
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["path"] == ["zooniverse", "bad"]
    assert result["data"]["zooniverse"]["bad"] is None
    assert isinstance(result["data"]["zooniverse"]["good"]["total"], int)
    eras.assert_calls(call("/classifications", project_id="335"))


# ------------------------------------------------------------------ credentials


USER_QUERY = '{ zooniverse { user(id: "%d") { classifications { total } } } }'


def test_user_stats_without_a_token_are_unauthenticated_and_cost_nothing(
    gateway: Gateway, eras: Upstream
) -> None:
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"}):
        result = gateway.query(USER_QUERY % demo.VOLUNTEER_ID, None, **headers)
        assert codes(result) == ["UNAUTHENTICATED"]
        assert result["data"]["zooniverse"]["user"]["classifications"] is None
    assert len(eras.log) == 0


@pytest.mark.parametrize(
    ("token", "user", "outcome"),
    [
        (demo.VOLUNTEER_TOKEN, demo.VOLUNTEER_ID, "data"),
        (demo.PANOPTES_ADMIN_TOKEN, demo.VOLUNTEER_ID, "data"),
        (demo.SECOND_VOLUNTEER_TOKEN, demo.VOLUNTEER_ID, "FORBIDDEN"),
        (demo.EXPIRED_TOKEN, demo.VOLUNTEER_ID, "FORBIDDEN"),
        ("no-such-token", demo.VOLUNTEER_ID, "FORBIDDEN"),
    ],
)
def test_user_route_auth_outcomes(
    gateway: Gateway, eras: Upstream, token: str, user: int, outcome: str
) -> None:
    result = gateway.query(USER_QUERY % user, Authorization=f"Bearer {token}")
    if outcome == "data":
        assert isinstance(data_of(result)["zooniverse"]["user"]["classifications"]["total"], int)
    else:
        assert codes(result) == [outcome]
        assert result["errors"][0]["extensions"]["source"] == "ERAS"
        assert token not in str(result)
    eras.assert_calls(call(f"/classifications/users/{user}", f"Bearer {token}"))


GROUP_AGGREGATE = '{ zooniverse { userGroup(id: "%d") { classifications { total activeUsers } } } }'
GROUP_MEMBERS = '{ zooniverse { userGroup(id: "%d") { memberStats { user { id } count } } } }'

# §3.3: who may see aggregates and the member breakdown, by visibility.
VISIBILITY = {
    "public_show_all": (
        {"member", "group_admin", "outsider", "anonymous"},
        {"member", "group_admin", "outsider", "anonymous"},
    ),
    "public_agg_show_ind_if_member": (
        {"member", "group_admin", "outsider", "anonymous"},
        {"member", "group_admin"},
    ),
    "public_agg_only": ({"member", "group_admin", "outsider", "anonymous"}, {"group_admin"}),
    "private_show_agg_and_ind": ({"member", "group_admin"}, {"member", "group_admin"}),
    "private_agg_only": ({"member", "group_admin"}, {"group_admin"}),
}
CALLERS = {
    "member": demo.VOLUNTEER_TOKEN,
    "group_admin": demo.GROUP_ADMIN_TOKEN,
    "outsider": demo.OUTSIDER_TOKEN,
    "anonymous": None,
}


@pytest.mark.parametrize("group", [42, 43, 44, 45, 46])
@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("breakdown", [False, True])
def test_group_visibility_matrix(
    gateway: Gateway, eras: Upstream, group: int, caller: str, breakdown: bool
) -> None:
    visibility = demo.DEMO_GROUPS[group]
    allowed = VISIBILITY[visibility][1 if breakdown else 0]
    token = CALLERS[caller]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    result = gateway.query((GROUP_MEMBERS if breakdown else GROUP_AGGREGATE) % group, None, **headers)
    if caller in allowed:
        assert not result.get("errors"), result
    else:
        assert codes(result) == ["FORBIDDEN"], result  # ERAS's 403, with or without a token
    flags = {"individual_stats_breakdown": "true"} if breakdown else {}
    sent = None if token is None else f"Bearer {token}"
    eras.assert_calls(call(f"/classifications/user_groups/{group}", sent, **flags))


def test_admin_sees_every_group_breakdown(gateway: Gateway) -> None:
    for group in demo.DEMO_GROUPS:
        result = gateway.query(GROUP_MEMBERS % group, Authorization=f"Bearer {demo.PANOPTES_ADMIN_TOKEN}")
        assert not result.get("errors"), (group, result)


def test_unknown_group_is_not_found(gateway: Gateway) -> None:
    result = gateway.query(GROUP_AGGREGATE % 999999)
    assert codes(result) == ["NOT_FOUND"]
    assert result["errors"][0]["extensions"]["source"] == "ERAS"


def test_group_page_in_one_request(gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse { userGroup(id: "42") {
        classifications(startDate: "2026-05-09", endDate: "2026-11-20") {
          total timeSpent activeUsers series(period: WEEK) { start count timeSpent }
          projectContributions { project { id } count timeSpent }
          top: topContributors(limit: 10) { user { id } count timeSpent }
          three: topContributors(limit: 3) { user { id } count } } } } }"""
    stats = data_of(gateway.query(query))["zooniverse"]["userGroup"]["classifications"]
    rows = classifications(eras_dataset, group=42, start=date(2026, 5, 9), end=date(2026, 11, 20))
    assert stats["total"] == len(rows)
    assert stats["timeSpent"] == pytest.approx(sum(e.session_time for e in rows), abs=1e-6)
    assert stats["activeUsers"] == len({e.user_id for e in rows})
    assert counts_of(stats["series"]) == series(rows, "week")
    per_user = Counter(str(e.user_id) for e in rows)
    top = [(c["user"]["id"], c["count"]) for c in stats["top"]]
    assert [n for _, n in top] == sorted(per_user.values(), reverse=True)[:10]
    assert all(per_user[u] == n for u, n in top)
    assert stats["three"] == [{"user": {"id": u}, "count": n} for u, n in top[:3]]
    eras.assert_calls(
        call(
            "/classifications/user_groups/42",
            period="week",
            top_contributors="10",
            **window("2026-05-09", "2026-11-20"),
        ),
    )


def test_group_member_breakdown(gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse { userGroup(id: "42") { memberStats(startDate: "2026-01-01") {
        user { id } count timeSpent projectContributions { project { id } count timeSpent } } } } }"""
    members = data_of(gateway.query(query))["zooniverse"]["userGroup"]["memberStats"]
    rows = classifications(eras_dataset, group=42, start=date(2026, 1, 1))
    per_user = Counter(str(e.user_id) for e in rows)
    assert {m["user"]["id"]: m["count"] for m in members} == dict(per_user)
    for m in members:
        assert sum(p["count"] for p in m["projectContributions"]) == m["count"]
    eras.assert_calls(
        call("/classifications/user_groups/42", start_date="2026-01-01", individual_stats_breakdown="true"),
    )


# ------------------------------------------------------------------ upstream failures


FAULT_QUERY = """{ zooniverse {
    broken: classifications(projectIds: ["1234"]) { total }
    fine: comments { total } } }"""


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"status": 500, "body": b""}, "UPSTREAM_UNAVAILABLE"),
        ({"status": 503, "body": b'{"status":503}'}, "UPSTREAM_UNAVAILABLE"),
        ({"status": 429, "body": b""}, "UPSTREAM_UNAVAILABLE"),
        ({"status": 200, "body": b"<html>oops</html>", "content_type": "text/html"}, "UPSTREAM_BAD_RESPONSE"),
        ({"status": 200, "body": b'{"total_count": "many"}'}, "UPSTREAM_BAD_RESPONSE"),
        ({"status": 200, "body": b"[1, 2]"}, "UPSTREAM_BAD_RESPONSE"),
        ({"status": 403, "body": b'{"error":"nope"}'}, "FORBIDDEN"),
        ({"status": 404, "body": b""}, "NOT_FOUND"),
    ],
)
def test_faults_fail_one_field_and_keep_the_rest(
    gateway: Gateway, eras: Upstream, fault: dict[str, Any], code: str
) -> None:
    eras.faults.inject("^/classifications$", **fault)
    result = gateway.query(FAULT_QUERY)
    assert codes(result) == [code]
    error = result["errors"][0]
    assert error["path"] == ["zooniverse", "broken"]
    assert error["extensions"]["source"] == "ERAS"
    assert result["data"]["zooniverse"]["broken"] is None
    assert isinstance(result["data"]["zooniverse"]["fine"]["total"], int)


def test_a_hanging_upstream_times_out(make_gateway: GatewayFactory, eras: Upstream) -> None:
    gateway = make_gateway(upstream_timeout_s=0.3)
    eras.faults.inject("^/classifications$", hang=True)
    result = gateway.query(FAULT_QUERY)
    assert codes(result) == ["UPSTREAM_TIMEOUT"]
    assert isinstance(result["data"]["zooniverse"]["fine"]["total"], int)


def test_circuit_opens_after_repeated_failures(make_gateway: GatewayFactory, eras: Upstream) -> None:
    gateway = make_gateway(breaker_failures=2, breaker_reset_s=3600)
    eras.faults.inject("^/classifications$", status=500)
    for _ in range(2):
        gateway.query("{ zooniverse { classifications { total } } }")
    sent = len(eras.log)
    result = gateway.query("{ zooniverse { classifications { total } } }")
    assert codes(result) == ["UPSTREAM_UNAVAILABLE"]
    assert len(eras.log) == sent  # cut off: no further request


def test_credentials_never_reach_logs_or_errors(
    gateway: Gateway, eras: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-token-value"
    eras.faults.inject("/classifications/users/", status=500)
    with caplog.at_level("DEBUG"):
        result = gateway.query(USER_QUERY % demo.VOLUNTEER_ID, Authorization=f"Bearer {secret}")
    assert codes(result) == ["UPSTREAM_UNAVAILABLE"]
    assert secret not in str(result)
    assert secret not in caplog.text


def test_today_is_the_open_end_of_fill_gaps(gateway: Gateway) -> None:
    query = '{ zooniverse { classifications(startDate: "2026-11-16") { series(period: DAY, fillGaps: true) { start } } } }'
    got = data_of(gateway.query(query))["zooniverse"]["classifications"]["series"]
    assert got[-1]["start"] == TODAY.isoformat()


# ------------------------------------------------------------------ the docs' examples and older clients


def test_documented_examples_as_graphql(gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset) -> None:
    """[E-docs]: two projects summed per day; a volunteer's yearly time; a project's week of days."""
    admin = f"Bearer {demo.PANOPTES_ADMIN_TOKEN}"
    query = (
        """{ zooniverse {
        pair: classifications(projectIds: ["1234", "4321"], startDate: "2026-10-01", endDate: "2026-10-31") { total series(period: DAY) { start count } }
        user(id: "%d") {
          yearly: classifications { timeSpent series(period: YEAR) { start count timeSpent } }
          week: classifications(projectIds: ["1234"], startDate: "2026-11-09", endDate: "2026-11-16") { series(period: DAY) { start count } }
        } } }"""
        % demo.VOLUNTEER_ID
    )
    z = data_of(gateway.query(query, Authorization=admin))["zooniverse"]
    pair = classifications(
        eras_dataset, projects=[1234, 4321], start=date(2026, 10, 1), end=date(2026, 10, 31)
    )
    assert z["pair"]["total"] == len(pair)
    assert z["pair"]["series"] == series(pair, "day")
    mine = classifications(eras_dataset, user=demo.VOLUNTEER_ID)
    yearly = z["user"]["yearly"]
    assert counts_of(yearly["series"]) == series(mine, "year")
    assert yearly["timeSpent"] == pytest.approx(sum(e.session_time for e in mine), abs=1e-3)
    assert sum(b["timeSpent"] for b in yearly["series"]) == pytest.approx(yearly["timeSpent"], abs=1e-3)
    week = classifications(
        eras_dataset, user=demo.VOLUNTEER_ID, projects=[1234], start=date(2026, 11, 9), end=date(2026, 11, 16)
    )
    assert z["user"]["week"]["series"] == series(week, "day")
    eras.assert_calls(
        call("/classifications", project_id="1234,4321", period="day", **window("2026-10-01", "2026-10-31")),
        call(USER_PATH, admin, period="year", time_spent="true"),
        call(USER_PATH, admin, project_id="1234", period="day", **window("2026-11-09", "2026-11-16")),
    )


def test_all_projects_page_and_mobile_client(
    gateway: Gateway, eras: Upstream, eras_dataset: ErasDataset
) -> None:
    """§8 7 (yearly buckets with the per-project list) and §8 9 (contributions alone)."""
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        page: classifications(startDate: "2015-06-01", endDate: "2026-11-20") {
          series(period: YEAR) { start count } projectContributions { project { id } count } }
        mobile: classifications { projectContributions { project { id } count } }
    } } }"""
    user = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))["zooniverse"][
        "user"
    ]
    per_project = Counter(str(e.project_id) for e in classifications(eras_dataset, user=demo.VOLUNTEER_ID))
    assert {c["project"]["id"]: c["count"] for c in user["mobile"]["projectContributions"]} == dict(
        per_project
    )
    assert user["page"]["projectContributions"] == user["mobile"]["projectContributions"]
    eras.assert_calls(
        as_volunteer(period="year", project_contributions="true", **window("2015-06-01", "2026-11-20")),
        as_volunteer(project_contributions="true"),
    )


def test_anonymous_group_card_sends_no_token(gateway: Gateway, eras: Upstream) -> None:
    """§8 11: the 'my groups' card of a public group: the empty query, no credential needed."""
    query = '{ zooniverse { userGroup(id: "44") { classifications { total timeSpent activeUsers projectContributions { project { id } count } } } } }'
    stats = data_of(gateway.query(query))["zooniverse"]["userGroup"]["classifications"]
    assert stats["total"] == sum(c["count"] for c in stats["projectContributions"])
    eras.assert_calls(call("/classifications/user_groups/44"))
