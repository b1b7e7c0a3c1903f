"""The whole-operation response cache, seen over HTTP: who is served a kept answer, and for how long.

A kept answer is served without parsing, validating or executing, and says so with an ``Age``
header; executed answers have none. Every test runs real gateways on loopback against the
emulators and counts the requests the emulators receive; lifetimes use a clock moved by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.emulators import eras_data, figshare_data
from tests.cache_support import ClockedFactory, FakeClock, GatewayProcess, RedisSpace
from tests.conftest import Gateway, GatewayFactory, codes, data_of

pytest_plugins = ("tests.cache_fixtures",)

USER = eras_data.VOLUNTEER_ID
TOKEN_A = eras_data.VOLUNTEER_TOKEN
TOKEN_B = eras_data.PANOPTES_ADMIN_TOKEN
USER_TOTAL = f'{{ zooniverse {{ user(id: "{USER}") {{ classifications {{ total }} }} }} }}'
GROUP_TOTAL = '{ zooniverse { userGroup(id: "42") { classifications { total } } } }'
PUBLIC = '{ figshare { article(id: "766364") { views(startDate: "2026-11-01") { total } } } }'
SETTLED = (
    '{ figshare { article(id: "766364") { views(startDate: "2026-01-01", endDate: "2026-01-31") '
    "{ total } } } }"
)
LBORO = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["lboro"])


def kept(response: httpx.Response) -> bool:
    """Whether the answer came from the response cache (executed answers carry no Age)."""
    return "age" in response.headers


def ask(gateway: Gateway, query: str, **headers: str) -> httpx.Response:
    response = gateway.post(query, **headers)
    assert response.status_code in (200, 304), response.text
    return response


# ---------------------------------------------------------------------- who is served


def test_a_public_answer_is_kept_and_shared_by_every_caller(
    make_gateway: GatewayFactory, figshare: Any, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)
    first = ask(gateway, PUBLIC)
    assert not kept(first)
    again = ask(gateway, PUBLIC)
    anyone_else = ask(gateway, PUBLIC, Authorization=f"Bearer {TOKEN_A}", x_figshare_authorization=LBORO)
    assert kept(again)
    # The answer consulted no credential, so a caller carrying some is served it too.
    assert kept(anyone_else)
    assert again.content == anyone_else.content == first.content
    assert len(figshare.log) == 1


def test_a_credentialed_answer_is_kept_for_that_credential_alone(
    make_gateway: GatewayFactory, eras: Any, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)
    a = ask(gateway, USER_TOTAL, Authorization=f"Bearer {TOKEN_A}")
    assert not kept(a)
    assert kept(ask(gateway, USER_TOTAL, Authorization=f"Bearer {TOKEN_A}"))
    b = ask(gateway, USER_TOTAL, Authorization=f"Bearer {TOKEN_B}")
    assert not kept(b)  # another credential: executed, asked upstream again
    assert codes(ask(gateway, USER_TOTAL).json()) == ["UNAUTHENTICATED"]
    assert len(eras.log) == 2
    assert [r.header("authorization") for r in eras.log] == [f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}"]


def test_an_answer_that_consulted_credentials_is_not_shared_with_callers_who_carry_some(
    make_gateway: GatewayFactory, eras: Any
) -> None:
    """A group's stats depend on who asks: the anonymous answer is kept for anonymous callers."""
    gateway = make_gateway(cache_url="memory://")
    anonymous = ask(gateway, GROUP_TOTAL)
    assert kept(ask(gateway, GROUP_TOTAL))
    member = ask(gateway, GROUP_TOTAL, Authorization=f"Bearer {TOKEN_A}")
    assert not kept(member)
    assert member.headers["cache-control"] == "private, no-store"
    assert anonymous.headers["cache-control"].startswith("public")
    assert len(eras.log) == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(callers=st.lists(st.sampled_from([None, TOKEN_A, TOKEN_B, "Bearer-less", "stranger"]), max_size=6))
def test_no_caller_is_ever_served_another_callers_answer(
    make_gateway: GatewayFactory, callers: list[str | None]
) -> None:
    gateway = make_gateway(cache_url="memory://")
    seen: dict[str | None, bytes] = {}
    for caller in callers:
        headers = {} if caller is None else {"Authorization": f"Bearer {caller}"}
        response = ask(gateway, USER_TOTAL, **headers)
        if kept(response):
            # Served from the cache: exactly what this same caller was answered before.
            assert seen[caller] == response.content
        seen.setdefault(caller, response.content)


# ---------------------------------------------------------------------- how long


def test_a_kept_answer_lives_as_long_as_the_upstream_answers_it_was_made_of(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock)
    assert ask(gateway, PUBLIC).headers["cache-control"] == "public, max-age=60"
    clock.advance(45)
    later = ask(gateway, PUBLIC)
    assert kept(later)
    assert later.headers["age"] == "45"
    assert later.headers["cache-control"] == "public, max-age=15"
    clock.advance(15)
    expired = ask(gateway, PUBLIC)
    assert not kept(expired)
    assert len(figshare.log) == 2


def test_answers_with_errors_stale_answers_and_traced_requests_are_never_kept(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0)
    failing = '{ figshare { article(id: "766364") { views { total } } } }'
    figshare.faults.inject("/total/views/article/766364", status=503, body=b"{}", times=1)
    assert codes(ask(gateway, failing).json()) == ["UPSTREAM_UNAVAILABLE"]
    assert not kept(ask(gateway, failing))  # the error was not kept: executed again

    traced = ask(gateway, SETTLED, x_stats_trace="1")
    assert not kept(ask(gateway, SETTLED, x_stats_trace="1"))  # traces are always made afresh
    assert "statsTrace" in traced.json()["extensions"]

    data_of(ask(gateway, PUBLIC).json())
    clock.advance(61)
    figshare.faults.inject("/timeline/", status=503, body=b"{}")
    stale = ask(gateway, PUBLIC)
    assert "stale" in stale.json()["extensions"]
    assert not kept(ask(gateway, PUBLIC))  # the stale answer was not kept


# ---------------------------------------------------------------------- telling clients


def test_public_answers_carry_an_etag_and_a_matching_if_none_match_gets_304(
    make_gateway: GatewayFactory, eras: Any, figshare: Any
) -> None:
    gateway = make_gateway(cache_url="memory://")
    first = ask(gateway, SETTLED)
    etag = first.headers["etag"]
    for _ in range(2):  # executed once (the miss above), then kept: the same ETag both ways
        unchanged = ask(gateway, SETTLED, if_none_match=etag)
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag
    assert ask(gateway, SETTLED, if_none_match='"something-else"').status_code == 200
    private = ask(gateway, USER_TOTAL, Authorization=f"Bearer {TOKEN_A}")
    assert "etag" not in private.headers
    assert len(figshare.log) == 1


def test_without_a_response_cache_every_operation_is_executed(
    make_gateway: GatewayFactory, figshare: Any
) -> None:
    gateway = make_gateway(cache_url="memory://", response_cache=False)
    ask(gateway, PUBLIC)
    assert not kept(ask(gateway, PUBLIC))
    assert len(figshare.log) == 1  # the upstream answer is still cached


# ---------------------------------------------------------------------- replicas


@pytest.mark.redis
def test_replicas_sharing_redis_share_kept_answers(
    gateway_processes: Callable[..., list[GatewayProcess]], figshare: Any, redis_space: RedisSpace
) -> None:
    one, two = gateway_processes(redis_space.replica_env(figshare.url), count=2)
    with httpx.Client(timeout=30, trust_env=False) as client:
        first = client.post(f"{one.url}/graphql", json={"query": PUBLIC})
        second = client.post(f"{two.url}/graphql", json={"query": PUBLIC})
    assert first.status_code == second.status_code == 200
    assert "age" not in first.headers
    assert "age" in second.headers
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert len(figshare.log) == 1
    assert any(b":resp:" in key for key in redis_space.items())
