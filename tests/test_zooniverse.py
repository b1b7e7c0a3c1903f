"""Zooniverse through the gateway, over loopback against the ERAS emulator.

Each test writes a real client's request pattern (eras-api.md §8) as GraphQL and checks the answer
against a computation over the emulator's own events, and the exact ERAS requests made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import pytest

from gateway.emulators import eras_data as demo
from gateway.emulators.eras_data import ClassificationEvent, ErasDataset
from tests.conftest import TODAY, Gateway, codes, data_of

BEARER = f"Bearer {demo.VOLUNTEER_TOKEN}"


def day_of(event: Any) -> date:
    return event.created_at.date()


def in_window(events: Iterable[Any], start: date | None, end: date | None) -> list[Any]:
    return [e for e in events if (start is None or day_of(e) >= start) and (end is None or day_of(e) <= end)]


def buckets(events: Iterable[Any], period: str) -> list[dict[str, Any]]:
    def start_of(d: date) -> date:
        if period == "week":
            return d - timedelta(days=d.weekday())
        if period == "month":
            return d.replace(day=1)
        if period == "year":
            return d.replace(month=1, day=1)
        return d

    counts = Counter(start_of(day_of(e)) for e in events)
    return [{"start": d.isoformat(), "count": n} for d, n in sorted(counts.items())]


def only(log: Any) -> Any:
    requests = log.requests
    assert len(requests) == 1, [(r.path, r.params) for r in requests]
    return requests[0]


# ------------------------------------------------------------------ public routes (§8 1-4)


def test_home_page_total(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    data = data_of(gateway.query("{ zooniverse { classifications { total } } }"))
    assert data["zooniverse"]["classifications"]["total"] == len(eras_dataset.classifications)
    request = only(eras.log)
    assert (request.method, request.path, request.params) == ("GET", "/classifications", {})
    assert request.header("authorization") is None


def test_project_statistic_and_chart_share_one_request(
    gateway: Gateway, eras: Any, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { project(id: $id) {
        classifications(startDate: "2024-01-01", endDate: "2026-08-07") {
          total series(period: MONTH) { start count timeSpent } } } } }"""
    data = data_of(gateway.query(query, {"id": "1234"}, Authorization=BEARER))
    events = in_window(
        (e for e in eras_dataset.classifications if e.project_id == 1234), date(2024, 1, 1), date(2026, 8, 7)
    )
    got = data["zooniverse"]["project"]["classifications"]
    assert got["total"] == len(events)
    assert [{"start": b["start"], "count": b["count"]} for b in got["series"]] == buckets(events, "month")
    assert all(b["timeSpent"] is None for b in got["series"])  # /classifications has no session time
    request = only(eras.log)
    assert request.path == "/classifications"
    assert request.params == {
        "project_id": "1234",
        "start_date": "2024-01-01",
        "end_date": "2026-08-07",
        "period": "month",
    }
    assert request.header("authorization") is None  # public route: the bearer never goes there


def test_workflow_chart_and_time_to_completion(
    gateway: Gateway, eras: Any, eras_dataset: ErasDataset
) -> None:
    workflow = demo.PROJECT_WORKFLOWS[1234][0]
    query = """query($w: ID!) { zooniverse { workflow(id: $w) {
        classifications(startDate: "2026-11-06", endDate: "2026-11-19") { total series(period: DAY) { start count } }
    } } }"""
    data = data_of(gateway.query(query, {"w": str(workflow)}))
    events = in_window(
        (e for e in eras_dataset.classifications if e.workflow_id == workflow),
        date(2026, 11, 6),
        date(2026, 11, 19),
    )
    got = data["zooniverse"]["workflow"]["classifications"]
    assert got["total"] == len(events)
    assert got["series"] == buckets(events, "day")
    assert only(eras.log).params == {
        "workflow_id": str(workflow),
        "start_date": "2026-11-06",
        "end_date": "2026-11-19",
        "period": "day",
    }


def test_comments_tab_and_docs_examples(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse {
        tab: comments(projectIds: ["1234"], startDate: "2026-05-09", endDate: "2026-11-20") {
          total series(period: WEEK) { start count } }
        two: comments(projectIds: ["1234", "335"]) { total }
        author: comments(userIds: ["%d"]) { total }
        both: comments(projectIds: ["1234"], userIds: ["%d"]) { total }
        weekly: comments { series(period: WEEK) { start count } }
    } }""" % (demo.VOLUNTEER_ID, demo.VOLUNTEER_ID)
    z = data_of(gateway.query(query))["zooniverse"]
    comments = eras_dataset.comments
    tab = in_window((c for c in comments if c.project_id == 1234), date(2026, 5, 9), date(2026, 11, 20))
    assert z["tab"]["total"] == len(tab)
    assert z["tab"]["series"] == buckets(tab, "week")
    assert all(date.fromisoformat(b["start"]).weekday() == 0 for b in z["tab"]["series"])
    assert z["two"]["total"] == sum(1 for c in comments if c.project_id in (1234, 335))
    assert z["author"]["total"] == sum(1 for c in comments if c.user_id == demo.VOLUNTEER_ID)
    assert z["both"]["total"] == sum(
        1 for c in comments if c.user_id == demo.VOLUNTEER_ID and c.project_id == 1234
    )
    assert z["weekly"]["series"] == buckets(comments, "week")
    sent = sorted(tuple(sorted(r.params.items())) for r in eras.log.requests)
    assert sent == sorted(
        [
            (
                ("end_date", "2026-11-20"),
                ("period", "week"),
                ("project_id", "1234"),
                ("start_date", "2026-05-09"),
            ),
            (("project_id", "1234,335"),),
            (("user_id", str(demo.VOLUNTEER_ID)),),
            (("project_id", "1234"), ("user_id", str(demo.VOLUNTEER_ID))),
            (("period", "week"),),
        ]
    )
    assert {r.path for r in eras.log.requests} == {"/comments"}


# ------------------------------------------------------------------ the users route (§8 5-9)


def user_events(dataset: ErasDataset, user: int = demo.VOLUNTEER_ID) -> list[ClassificationEvent]:
    return [e for e in dataset.classifications if e.user_id == user]


def test_user_stats_page_is_one_request_with_every_flag(
    gateway: Gateway, eras: Any, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        classifications(startDate: "2026-11-01", endDate: "2026-11-20") {
          total timeSpent series(period: DAY) { start count timeSpent }
          projectContributions { project { id } count timeSpent } } } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    stats = data["zooniverse"]["user"]["classifications"]
    events = in_window(user_events(eras_dataset), date(2026, 11, 1), date(2026, 11, 20))
    assert stats["total"] == len(events)
    # Asked with project_contributions, ERAS sums per (day, project) rows truncated to whole seconds.
    rows: dict[tuple[date, int], float] = {}
    for e in events:
        rows[(day_of(e), e.project_id)] = rows.get((day_of(e), e.project_id), 0.0) + e.session_time
    assert stats["timeSpent"] == float(sum(int(t) for t in rows.values()))
    assert [{"start": b["start"], "count": b["count"]} for b in stats["series"]] == buckets(events, "day")
    assert all(isinstance(b["timeSpent"], float) for b in stats["series"])
    per_project = Counter(str(e.project_id) for e in events)
    assert {c["project"]["id"]: c["count"] for c in stats["projectContributions"]} == dict(per_project)
    counts = [c["count"] for c in stats["projectContributions"]]
    assert counts == sorted(counts, reverse=True)
    request = only(eras.log)
    assert request.path == f"/classifications/users/{demo.VOLUNTEER_ID}"
    assert request.params == {
        "start_date": "2026-11-01",
        "end_date": "2026-11-20",
        "period": "day",
        "time_spent": "true",
        "project_contributions": "true",
    }
    assert request.header("authorization") == BEARER


def test_user_with_project_selected_and_certificate(
    gateway: Gateway, eras: Any, eras_dataset: ErasDataset
) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        project: classifications(projectIds: ["1234"], startDate: "2026-11-01", endDate: "2026-11-20") {
          total timeSpent series(period: DAY) { start count } }
        certificate: classifications(startDate: "2026-01-01", endDate: "2026-11-20") {
          total timeSpent projectContributions { project { id } count } }
    } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    user = data["zooniverse"]["user"]
    mine = user_events(eras_dataset)
    project = in_window([e for e in mine if e.project_id == 1234], date(2026, 11, 1), date(2026, 11, 20))
    assert user["project"]["total"] == len(project)
    # With a project filter ERAS truncates each bucket's time to whole seconds.
    assert user["project"]["timeSpent"] == float(int(user["project"]["timeSpent"]))
    assert user["certificate"]["total"] == len(in_window(mine, date(2026, 1, 1), date(2026, 11, 20)))
    params = sorted(tuple(sorted(r.params.items())) for r in eras.log.requests)
    assert params == sorted(
        [
            (
                ("end_date", "2026-11-20"),
                ("period", "day"),
                ("project_id", "1234"),
                ("start_date", "2026-11-01"),
                ("time_spent", "true"),
            ),
            (
                ("end_date", "2026-11-20"),
                ("project_contributions", "true"),
                ("start_date", "2026-01-01"),
                ("time_spent", "true"),
            ),
        ]
    )


def test_all_projects_list_orders_by_recents(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        classifications(startDate: "2025-06-01") { projectContributions(orderBy: RECENTS) { project { id } count } }
    } } }"""
    data = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))
    contributions = data["zooniverse"]["user"]["classifications"]["projectContributions"]
    events = in_window(user_events(eras_dataset), date(2025, 6, 1), None)
    latest = {}
    for e in events:
        latest[str(e.project_id)] = max(latest.get(str(e.project_id), date.min), day_of(e))
    days = [latest[c["project"]["id"]] for c in contributions]
    assert days == sorted(days, reverse=True)
    assert only(eras.log).params == {
        "start_date": "2025-06-01",
        "period": "day",
        "project_contributions": "true",
        "order_project_contributions_by": "recents",
    }


def test_distinct_periods_are_distinct_requests_and_duplicates_are_made_once(
    gateway: Gateway, eras: Any
) -> None:
    query = """{ zooniverse {
        a: classifications(projectIds: ["1234"]) { total day: series(period: DAY) { count } month: series(period: MONTH) { count } }
        b: classifications(projectIds: ["1234"]) { total }
    } }"""
    data_of(gateway.query(query))
    periods = sorted(r.params.get("period", "") for r in eras.log.requests)
    assert periods == ["day", "month"]


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
def test_bad_input_is_rejected_before_any_request(gateway: Gateway, eras: Any, field: str) -> None:
    result = gateway.query("{ zooniverse { %s } }" % field, Authorization=BEARER)
    assert codes(result) == ["BAD_USER_INPUT"], result
    assert len(eras.log) == 0


def test_bad_date_fails_only_its_field(gateway: Gateway, eras: Any) -> None:
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
    assert [r.params for r in eras.log.requests] == [{"project_id": "335"}]


# ------------------------------------------------------------------ credentials


USER_QUERY = '{ zooniverse { user(id: "%d") { classifications { total } } } }'


def test_user_stats_without_a_token_are_unauthenticated_and_cost_nothing(gateway: Gateway, eras: Any) -> None:
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"}):
        result = gateway.query(USER_QUERY % demo.VOLUNTEER_ID, **headers)
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
def test_user_route_auth_outcomes(gateway: Gateway, eras: Any, token: str, user: int, outcome: str) -> None:
    result = gateway.query(USER_QUERY % user, Authorization=f"Bearer {token}")
    if outcome == "data":
        assert isinstance(data_of(result)["zooniverse"]["user"]["classifications"]["total"], int)
    else:
        assert codes(result) == [outcome]
        assert result["errors"][0]["extensions"]["source"] == "ERAS"
        assert token not in str(result)
    assert only(eras.log).header("authorization") == f"Bearer {token}"


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
    gateway: Gateway, eras: Any, group: int, caller: str, breakdown: bool
) -> None:
    visibility = demo.DEMO_GROUPS[group]
    allowed = VISIBILITY[visibility][1 if breakdown else 0]
    token = CALLERS[caller]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    result = gateway.query((GROUP_MEMBERS if breakdown else GROUP_AGGREGATE) % group, **headers)
    if caller in allowed:
        assert not result.get("errors"), result
    else:
        assert codes(result) == ["FORBIDDEN"], result  # ERAS's 403, with or without a token
    request = only(eras.log)
    assert request.path == f"/classifications/user_groups/{group}"
    assert request.params == ({"individual_stats_breakdown": "true"} if breakdown else {})
    assert request.header("authorization") == (None if token is None else f"Bearer {token}")


def test_admin_sees_every_group_breakdown(gateway: Gateway) -> None:
    for group in demo.DEMO_GROUPS:
        result = gateway.query(GROUP_MEMBERS % group, Authorization=f"Bearer {demo.PANOPTES_ADMIN_TOKEN}")
        assert not result.get("errors"), (group, result)


def test_unknown_group_is_not_found(gateway: Gateway) -> None:
    result = gateway.query(GROUP_AGGREGATE % 999999)
    assert codes(result) == ["NOT_FOUND"]
    assert result["errors"][0]["extensions"]["source"] == "ERAS"


def group_rows(dataset: ErasDataset, group: int) -> list[ClassificationEvent]:
    return [e for e in dataset.classifications if group in e.credited_group_ids]


def test_group_page_in_one_request(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse { userGroup(id: "42") {
        classifications(startDate: "2026-05-09", endDate: "2026-11-20") {
          total timeSpent activeUsers series(period: WEEK) { start count timeSpent }
          projectContributions { project { id } count timeSpent }
          top: topContributors(limit: 10) { user { id } count timeSpent }
          three: topContributors(limit: 3) { user { id } count } } } } }"""
    stats = data_of(gateway.query(query))["zooniverse"]["userGroup"]["classifications"]
    rows = in_window(group_rows(eras_dataset, 42), date(2026, 5, 9), date(2026, 11, 20))
    assert stats["total"] == len(rows)
    assert stats["timeSpent"] == pytest.approx(sum(e.session_time for e in rows), abs=1e-6)
    assert stats["activeUsers"] == len({e.user_id for e in rows})
    assert [{"start": b["start"], "count": b["count"]} for b in stats["series"]] == buckets(rows, "week")
    per_user = Counter(str(e.user_id) for e in rows)
    top = [(c["user"]["id"], c["count"]) for c in stats["top"]]
    assert [n for _, n in top] == sorted(per_user.values(), reverse=True)[:10]
    assert all(per_user[u] == n for u, n in top)
    assert stats["three"] == [{"user": {"id": u}, "count": n} for u, n in top[:3]]
    assert only(eras.log).params == {
        "start_date": "2026-05-09",
        "end_date": "2026-11-20",
        "period": "week",
        "top_contributors": "10",
    }


def test_group_member_breakdown(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    query = """{ zooniverse { userGroup(id: "42") { memberStats(startDate: "2026-01-01") {
        user { id } count timeSpent projectContributions { project { id } count timeSpent } } } } }"""
    members = data_of(gateway.query(query))["zooniverse"]["userGroup"]["memberStats"]
    rows = in_window(group_rows(eras_dataset, 42), date(2026, 1, 1), None)
    per_user = Counter(str(e.user_id) for e in rows)
    assert {m["user"]["id"]: m["count"] for m in members} == dict(per_user)
    for m in members:
        assert sum(p["count"] for p in m["projectContributions"]) == m["count"]
    assert only(eras.log).params == {"start_date": "2026-01-01", "individual_stats_breakdown": "true"}


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
    gateway: Gateway, eras: Any, fault: dict[str, Any], code: str
) -> None:
    eras.faults.inject("^/classifications$", **fault)
    result = gateway.query(FAULT_QUERY)
    assert codes(result) == [code]
    error = result["errors"][0]
    assert error["path"] == ["zooniverse", "broken"]
    assert error["extensions"]["source"] == "ERAS"
    assert result["data"]["zooniverse"]["broken"] is None
    assert isinstance(result["data"]["zooniverse"]["fine"]["total"], int)


def test_a_hanging_upstream_times_out(make_gateway: Any, eras: Any) -> None:
    gateway = make_gateway(upstream_timeout_s=0.3)
    eras.faults.inject("^/classifications$", hang=True)
    result = gateway.query(FAULT_QUERY)
    assert codes(result) == ["UPSTREAM_TIMEOUT"]
    assert isinstance(result["data"]["zooniverse"]["fine"]["total"], int)


def test_circuit_opens_after_repeated_failures(make_gateway: Any, eras: Any) -> None:
    gateway = make_gateway(breaker_failures=2, breaker_reset_s=3600)
    eras.faults.inject("^/classifications$", status=500)
    for _ in range(2):
        gateway.query("{ zooniverse { classifications { total } } }")
    sent = len(eras.log)
    result = gateway.query("{ zooniverse { classifications { total } } }")
    assert codes(result) == ["UPSTREAM_UNAVAILABLE"]
    assert len(eras.log) == sent  # cut off: no further request


def test_credentials_never_reach_logs_or_errors(
    gateway: Gateway, eras: Any, caplog: pytest.LogCaptureFixture
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
    series = data_of(gateway.query(query))["zooniverse"]["classifications"]["series"]
    assert series[-1]["start"] == TODAY.isoformat()


# ------------------------------------------------------------------ the docs' examples and older clients


def test_documented_examples_as_graphql(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
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
    pair = in_window(
        (e for e in eras_dataset.classifications if e.project_id in (1234, 4321)),
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert z["pair"]["total"] == len(pair)
    assert z["pair"]["series"] == buckets(pair, "day")
    mine = user_events(eras_dataset)
    yearly = z["user"]["yearly"]
    assert [{"start": b["start"], "count": b["count"]} for b in yearly["series"]] == buckets(mine, "year")
    assert yearly["timeSpent"] == pytest.approx(sum(e.session_time for e in mine), abs=1e-3)
    assert sum(b["timeSpent"] for b in yearly["series"]) == pytest.approx(yearly["timeSpent"], abs=1e-3)
    week = in_window((e for e in mine if e.project_id == 1234), date(2026, 11, 9), date(2026, 11, 16))
    assert z["user"]["week"]["series"] == buckets(week, "day")
    sent = {(r.path, tuple(sorted(r.params.items()))) for r in eras.log.requests}
    user_path = f"/classifications/users/{demo.VOLUNTEER_ID}"
    assert sent == {
        (
            "/classifications",
            (
                ("end_date", "2026-10-31"),
                ("period", "day"),
                ("project_id", "1234,4321"),
                ("start_date", "2026-10-01"),
            ),
        ),
        (user_path, (("period", "year"), ("time_spent", "true"))),
        (
            user_path,
            (
                ("end_date", "2026-11-16"),
                ("period", "day"),
                ("project_id", "1234"),
                ("start_date", "2026-11-09"),
            ),
        ),
    }
    assert len(eras.log) == 3
    assert all(r.header("authorization") == admin for r in eras.log.requests if r.path == user_path)


def test_all_projects_page_and_mobile_client(gateway: Gateway, eras: Any, eras_dataset: ErasDataset) -> None:
    """§8 7 (yearly buckets with the per-project list) and §8 9 (contributions alone)."""
    query = """query($id: ID!) { zooniverse { user(id: $id) {
        page: classifications(startDate: "2015-06-01", endDate: "2026-11-20") {
          series(period: YEAR) { start count } projectContributions { project { id } count } }
        mobile: classifications { projectContributions { project { id } count } }
    } } }"""
    user = data_of(gateway.query(query, {"id": str(demo.VOLUNTEER_ID)}, Authorization=BEARER))["zooniverse"][
        "user"
    ]
    per_project = Counter(str(e.project_id) for e in user_events(eras_dataset))
    assert {c["project"]["id"]: c["count"] for c in user["mobile"]["projectContributions"]} == dict(
        per_project
    )
    assert user["page"]["projectContributions"] == user["mobile"]["projectContributions"]
    sent = sorted(tuple(sorted(r.params.items())) for r in eras.log.requests)
    assert sent == sorted(
        [
            (
                ("end_date", "2026-11-20"),
                ("period", "year"),
                ("project_contributions", "true"),
                ("start_date", "2015-06-01"),
            ),
            (("project_contributions", "true"),),
        ]
    )


def test_anonymous_group_card_sends_no_token(gateway: Gateway, eras: Any) -> None:
    """§8 11: the 'my groups' card of a public group: the empty query, no credential needed."""
    query = '{ zooniverse { userGroup(id: "44") { classifications { total timeSpent activeUsers projectContributions { project { id } count } } } } }'
    stats = data_of(gateway.query(query))["zooniverse"]["userGroup"]["classifications"]
    assert stats["total"] == sum(c["count"] for c in stats["projectContributions"])
    request = only(eras.log)
    assert (request.path, request.params, request.header("authorization")) == (
        "/classifications/user_groups/44",
        {},
        None,
    )
