"""gateway/upstream/eras.py: the exact request of each typed method, and the reading of its answer."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.auth import NO_CREDENTIALS, CallerCredentials, Credential
from gateway.dates import Window
from gateway.errors import (
    BudgetExceeded,
    Forbidden,
    NotFound,
    Unauthenticated,
    UpstreamBadResponse,
    UpstreamRejectedInput,
)
from gateway.upstream.calls import CallLog
from gateway.upstream.eras import (
    ErasAPI,
    ErasBucket,
    ErasContribution,
    ErasContributor,
    ErasCounts,
    ErasFlags,
    ErasMember,
    ErasQuery,
    ErasRoute,
)
from tests.unit.wire import Wire, body, headers
from tests.upstream_support import data_source, make_upstream

TOKEN = "Bearer volunteer-token"
VOLUNTEER = CallerCredentials(eras=Credential(TOKEN))
WINDOW = Window(date(2024, 1, 1), date(2024, 2, 1))
USER = ErasQuery(ErasRoute.USER, subject_id="1325", window=WINDOW)
GROUP = ErasQuery(ErasRoute.USER_GROUP, subject_id="42")


def eras(wire: Wire, caller: CallerCredentials = NO_CREDENTIALS, calls: CallLog | None = None) -> ErasAPI:
    api: ErasAPI = data_source(make_upstream("ERAS", wire), calls, caller)
    return api


# ---------------------------------------------------------------------- requests


async def test_public_counts_carry_filters_window_and_period_and_never_the_token() -> None:
    wire = Wire(body({"total_count": 7, "data": [{"period": "2024-01-01T00:00:00.000Z", "count": 7}]}))
    query = ErasQuery(ErasRoute.CLASSIFICATIONS, project_ids=("1234", "335"), window=WINDOW)
    [answer] = await eras(wire, VOLUNTEER).counts_each(query, [ErasFlags(period="month")])
    assert wire.sent() == [
        (
            "GET",
            "/classifications?project_id=1234,335&start_date=2024-01-01&end_date=2024-02-01&period=month",
            headers(),
            b"",
        )
    ]
    assert answer == ErasCounts(total=7, buckets=(ErasBucket(date(2024, 1, 1), 7, None),))


async def test_comments_by_user_and_workflow_counts() -> None:
    wire = Wire(body({"total_count": 3}))
    api = eras(wire)
    comments = ErasQuery(ErasRoute.COMMENTS, project_ids=("1",), user_ids=("5", "6"))
    workflows = ErasQuery(ErasRoute.CLASSIFICATIONS, workflow_ids=("5678",))
    assert await api.counts_each(comments, [ErasFlags()]) == [ErasCounts(total=3)]
    assert await api.counts_each(workflows, [ErasFlags(period="day")]) == [ErasCounts(total=3)]
    assert [target for _, target, _, _ in wire.sent()] == [
        "/comments?project_id=1&user_id=5,6",
        "/classifications?workflow_id=5678&period=day",
    ]


async def test_a_volunteers_counts_carry_every_flag_in_order_and_the_token() -> None:
    wire = Wire(
        body(
            {
                "total_count": 5,
                "time_spent": 12.5,
                "project_contributions": [{"project_id": 1234, "count": 5, "session_time": 12}],
                "data": [{"period": "2024-01-08T00:00:00.000Z", "count": 5, "session_time": 12}],
            }
        )
    )
    flags = ErasFlags(period="week", time_spent=True, project_contributions=True, order_by_recents=True)
    [answer] = await eras(wire, VOLUNTEER).counts_each(USER, [flags])
    assert wire.sent() == [
        (
            "GET",
            "/classifications/users/1325?start_date=2024-01-01&end_date=2024-02-01&period=week&time_spent=true"
            "&project_contributions=true&order_project_contributions_by=recents",
            headers(TOKEN),
            b"",
        )
    ]
    assert answer == ErasCounts(
        total=5,
        time_spent=12.5,
        buckets=(ErasBucket(date(2024, 1, 8), 5, 12.0),),
        contributions=(ErasContribution("1234", 5, 12.0),),
    )


async def test_a_volunteers_counts_without_a_token_are_refused_before_sending() -> None:
    wire = Wire()
    calls = CallLog()
    api = eras(wire, CallerCredentials(figshare=Credential("Basic x")), calls)
    with pytest.raises(Unauthenticated, match="send Authorization: Bearer"):
        api.check_access(ErasRoute.USER)
    with pytest.raises(Unauthenticated):
        await api.counts_each(USER, [ErasFlags()])
    assert wire.requests == []
    assert calls.planned == set()
    assert calls.consulted_credentials


@pytest.mark.parametrize(("caller", "sent"), [(NO_CREDENTIALS, None), (VOLUNTEER, TOKEN)])
async def test_group_counts_forward_a_token_when_there_is_one(
    caller: CallerCredentials, sent: str | None
) -> None:
    wire = Wire(
        body(
            {
                "total_count": 9,
                "time_spent": 30.25,
                "active_users": 2,
                "top_contributors": [{"user_id": 7, "count": 6, "session_time": 20}],
            }
        )
    )
    [answer] = await eras(wire, caller).counts_each(GROUP, [ErasFlags(top_contributors=3)])
    assert wire.sent() == [("GET", "/classifications/user_groups/42?top_contributors=3", headers(sent), b"")]
    assert answer == ErasCounts(
        total=9, time_spent=30.25, active_users=2, top_contributors=(ErasContributor("7", 6, 20.0),)
    )


async def test_the_member_breakdown() -> None:
    members = [
        {
            "user_id": 7,
            "count": 6,
            "session_time": 20.5,
            "project_contributions": [{"project_id": 1234, "count": 6, "session_time": 20.5}],
        }
    ]
    wire = Wire(body({"group_member_stats_breakdown": members}))
    query = ErasQuery(ErasRoute.USER_GROUP, subject_id="42", window=Window(start=date(2026, 1, 1)))
    answer = await eras(wire, VOLUNTEER).breakdown(query)
    assert wire.sent() == [
        (
            "GET",
            "/classifications/user_groups/42?start_date=2026-01-01&individual_stats_breakdown=true",
            headers(TOKEN),
            b"",
        )
    ]
    assert answer == (ErasMember("7", 6, 20.5, (ErasContribution("1234", 6, 20.5),)),)


async def test_several_flag_sets_are_budgeted_together_and_identical_ones_sent_once() -> None:
    wire = Wire(body({"total_count": 1, "data": []}))
    calls = CallLog(budget=2)
    api = eras(wire, calls=calls)
    query = ErasQuery(ErasRoute.CLASSIFICATIONS)
    day, month, year = ErasFlags(period="day"), ErasFlags(period="month"), ErasFlags(period="year")
    assert len(await api.counts_each(query, [day, month])) == 2
    assert len(await api.counts_each(query, [day])) == 1  # made before in this operation
    with pytest.raises(BudgetExceeded):
        await api.counts_each(query, [month, year])
    assert [target for _, target, _, _ in wire.sent()] == [
        "/classifications?period=day",
        "/classifications?period=month",
    ]


# ---------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>oops</html>",
        b"[1, 2]",
        b'{"data": []}',
        b'{"total_count": "many"}',
        b'{"total_count": true}',
        b'{"total_count": 1, "time_spent": "long"}',
        b'{"total_count": 1, "data": {}}',
        b'{"total_count": 1, "data": [{"period": "yesterday", "count": 1}]}',
        b'{"total_count": 1, "data": [{"period": 20240101, "count": 1}]}',
        b'{"total_count": 1, "data": [{"period": "2024-01-01T00:00:00.000Z", "count": 1.5}]}',
        b'{"total_count": 1, "project_contributions": [{"project_id": "1234", "count": 1}]}',
        b'{"total_count": 1, "top_contributors": [{"user_id": 7, "count": 1}]}',
    ],
)
async def test_an_unreadable_answer_is_that_requests_failure(answer: bytes) -> None:
    query = ErasQuery(ErasRoute.CLASSIFICATIONS)
    [failed] = await eras(Wire(answer)).counts_each(query, [ErasFlags()])
    assert isinstance(failed, UpstreamBadResponse)
    assert failed.extensions == {"code": "UPSTREAM_BAD_RESPONSE", "source": "ERAS"}


async def test_an_unreadable_member_breakdown_raises() -> None:
    with pytest.raises(UpstreamBadResponse, match="group_member_stats_breakdown is not a list"):
        await eras(Wire(b'{"group_member_stats_breakdown": null}')).breakdown(GROUP)


async def test_a_403_without_a_token_says_how_to_get_in() -> None:
    [refused] = await eras(Wire(b'{"error": "Missing Authorization header"}', 403)).counts_each(
        GROUP, [ErasFlags()]
    )
    assert isinstance(refused, Forbidden)
    assert refused.message == (
        "ERAS refused to show this without a bearer token (Missing Authorization header). To see it, send "
        "Authorization: Bearer <Panoptes token> of that volunteer, a member or an admin."
    )
    assert refused.extensions == {"code": "FORBIDDEN", "source": "ERAS", "upstreamStatus": 403}


async def test_upstream_errors_keep_erass_own_words_but_not_its_object_dumps() -> None:
    not_allowed = Wire(b'{"error": "not allowed to show? this Symbol"}', 403)
    [refused] = await eras(not_allowed, VOLUNTEER).counts_each(GROUP, [ErasFlags()])
    assert isinstance(refused, Forbidden)
    assert refused.message == "ERAS refused the credentials: not allowed to show? this Symbol"
    dump = Wire(b'{"error": "{:id=>\\"999\\"} Could not find user_group"}', 404)
    [missing] = await eras(dump).counts_each(GROUP, [ErasFlags()])
    assert isinstance(missing, NotFound)
    assert missing.message == "ERAS has no such resource."
    [rejected] = await eras(Wire(b'{"error": "Invalid date."}', 400), VOLUNTEER).counts_each(
        USER, [ErasFlags()]
    )
    assert isinstance(rejected, UpstreamRejectedInput)
    assert rejected.message == "ERAS rejected the arguments: Invalid date."
    assert rejected.extensions == {"code": "BAD_USER_INPUT", "source": "ERAS", "upstreamStatus": 400}
