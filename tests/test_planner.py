"""How the needs of sibling fields become ERAS requests (no HTTP: the plan alone)."""

from __future__ import annotations

from gateway.loaders.eras import COUNT, RECENTS, Need, plan
from gateway.upstream.eras import ErasFlags, ErasRoute


def test_user_fields_merge_into_one_request() -> None:
    needs = [Need(), Need(time_spent=True), Need(period="day", time_spent=True), Need(contributions=COUNT)]
    requests, serving = plan(ErasRoute.USER, needs)
    assert requests == [ErasFlags(period="day", time_spent=True, project_contributions=True)]
    assert serving == [0, 0, 0, 0]


def test_each_extra_period_is_one_more_request() -> None:
    requests, serving = plan(ErasRoute.CLASSIFICATIONS, [Need(period="day"), Need(period="month"), Need()])
    assert [r.period for r in requests] == ["day", "month"]
    assert serving == [0, 1, 0]


def test_recents_prefers_daily_buckets() -> None:
    requests, serving = plan(ErasRoute.USER, [Need(period="month"), Need(contributions=RECENTS)])
    assert requests == [ErasFlags(period="month", project_contributions=True, order_by_recents=True)]
    requests, _ = plan(ErasRoute.USER, [Need(contributions=RECENTS)])
    assert requests == [ErasFlags(period="day", project_contributions=True, order_by_recents=True)]
    requests, serving = plan(ErasRoute.USER, [Need(contributions=COUNT), Need(contributions=RECENTS)])
    assert len(requests) == 2
    assert sorted(r.order_by_recents for r in requests) == [False, True]
    assert serving[0] != serving[1]


def test_groups_take_the_largest_top_and_no_flags() -> None:
    needs = [Need(top=3), Need(top=10), Need(contributions=COUNT), Need(time_spent=False)]
    requests, serving = plan(ErasRoute.USER_GROUP, needs)
    assert requests == [ErasFlags(top_contributors=10)]
    assert serving == [0, 0, 0, 0]


def test_public_routes_never_carry_user_flags() -> None:
    requests, _ = plan(ErasRoute.COMMENTS, [Need(time_spent=True), Need(contributions=COUNT), Need(top=5)])
    assert requests == [ErasFlags()]
