"""Caching seen over HTTP: who may read an entry, how long it lives, and what clients are told.

Every test runs a real gateway on loopback against the emulators and counts the requests the
emulators receive. Lifetimes are checked with a clock moved by hand, never by sleeping.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from gateway.emulators import eras_data, figshare_data
from tests.cache_support import SECRET, ClockedFactory, FakeClock, RedisSpace
from tests.conftest import GatewayFactory, codes, data_of

pytest_plugins = ("tests.cache_fixtures",)

USER = eras_data.VOLUNTEER_ID
TOKEN_A = eras_data.VOLUNTEER_TOKEN  # the volunteer themself
TOKEN_B = eras_data.PANOPTES_ADMIN_TOKEN  # an admin: may read the same user's stats
USER_TOTAL = f'{{ zooniverse {{ user(id: "{USER}") {{ classifications {{ total }} }} }} }}'
USER_PATH = f"/classifications/users/{USER}"

LBORO = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["lboro"])
MONASH = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["monash"])
LBORO_SERIES = (
    '{ figshare(institution: "lboro") { article(id: "766364") { views(startDate: "2026-01-01", '
    'endDate: "2026-01-31") { series(period: DAY) { start count } } } } }'
)
SETTLED = (
    '{ figshare { article(id: "766364") { views(startDate: "2026-01-01", endDate: "2026-01-31") '
    "{ total } } } }"
)
RECENT = '{ figshare { article(id: "766364") { views(startDate: "2026-11-01") { total } } } }'
ARTICLE_TOTAL = '{ figshare { article(id: "766364") { views { total } } } }'
PUBLIC_ERAS = "{ zooniverse { classifications { total } } }"


def trace(result: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = result["extensions"]["statsTrace"]
    return records


def outcomes(result: dict[str, Any]) -> list[str]:
    return [r["cache"] for r in trace(result)]


def secrets_of_the_test() -> list[str]:
    """Every credential (and part of one) the tests send, in the forms a leak could take."""
    found = [TOKEN_A, TOKEN_B, LBORO, MONASH, SECRET]
    for user, password in figshare_data.DEMO_INSTITUTIONS.values():
        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return found


# ---------------------------------------------------------------------- who reads an entry


def test_a_tokens_cached_answer_never_reaches_another_token_or_an_anonymous_caller(
    make_gateway: GatewayFactory, eras: Any, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)

    first = gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_A}", x_stats_trace="1")
    assert outcomes(first) == ["miss"]
    again = gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_A}", x_stats_trace="1")
    assert outcomes(again) == ["hit"]
    assert len(eras.log) == 1  # token A's answer is cached...

    other = gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_B}", x_stats_trace="1")
    assert outcomes(other) == ["miss"]  # ...and token B does not get it: B's own request goes out
    sent = eras.log.matching(USER_PATH)
    assert [r.header("authorization") for r in sent] == [f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}"]

    anonymous = gateway.query(USER_TOTAL)
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert anonymous["data"]["zooniverse"]["user"]["classifications"] is None

    refused = gateway.query(USER_TOTAL, Authorization=f"Bearer {eras_data.EXPIRED_TOKEN}")
    assert codes(refused) == ["FORBIDDEN"]
    assert len(eras.log) == 3  # the anonymous caller cost nothing; the expired token went upstream


def test_an_institutions_cached_answer_never_reaches_other_credentials(
    make_gateway: GatewayFactory, figshare: Any, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)
    first = data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    assert first["figshare"]["article"]["views"]["series"]
    data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    assert len(figshare.log) == 1

    anonymous = gateway.query(LBORO_SERIES)
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert len(figshare.log) == 1

    response = gateway.post(LBORO_SERIES, x_figshare_authorization=MONASH)
    assert codes(response.json()) == ["FORBIDDEN"]
    assert [r.header("authorization") for r in figshare.log.requests] == [LBORO, MONASH]
    for secret in secrets_of_the_test():
        assert secret not in response.text


def test_public_requests_share_entries_whoever_asks(make_gateway: GatewayFactory, eras: Any) -> None:
    gateway = make_gateway(cache_url="memory://")
    data_of(gateway.query(PUBLIC_ERAS))
    with_token = gateway.query(PUBLIC_ERAS, Authorization=f"Bearer {TOKEN_A}", x_stats_trace="1")
    assert outcomes(with_token) == ["hit"]
    assert trace(with_token)[0]["credentialed"] is False
    (request,) = eras.log.requests
    assert request.header("authorization") is None


# ---------------------------------------------------------------------- lifetimes


TTL_CASES = [
    pytest.param(SETTLED, {}, {}, 86_400, id="window-ended-before-today"),
    pytest.param(RECENT, {}, {}, 60, id="window-includes-today"),
    pytest.param(ARTICLE_TOTAL, {}, {}, 60, id="all-time-total"),
    pytest.param(LBORO_SERIES, {"x_figshare_authorization": LBORO}, {}, 60, id="credentialed"),
    pytest.param(SETTLED, {}, {"cache_ttl_past_s": 300}, 300, id="configured-past"),
    pytest.param(RECENT, {}, {"cache_ttl_recent_s": 7}, 7, id="configured-recent"),
    pytest.param(
        LBORO_SERIES,
        {"x_figshare_authorization": LBORO},
        {"cache_ttl_private_s": 9},
        9,
        id="configured-private",
    ),
]


@pytest.mark.parametrize(("query", "headers", "overrides", "ttl"), TTL_CASES)
def test_entries_live_as_long_as_the_policy_says(
    make_clocked_gateway: ClockedFactory,
    figshare: Any,
    query: str,
    headers: dict[str, str],
    overrides: dict[str, Any],
    ttl: int,
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, **overrides)
    first = gateway.query(query, x_stats_trace="1", **headers)
    assert outcomes(first) == ["miss"]
    assert trace(first)[0]["ttlSeconds"] == ttl

    clock.advance(ttl - 1)
    last_second = gateway.query(query, x_stats_trace="1", **headers)
    assert outcomes(last_second) == ["hit"]
    assert trace(last_second)[0]["ageSeconds"] == ttl - 1
    assert len(figshare.log) == 1

    clock.advance(1)
    expired = gateway.query(query, x_stats_trace="1", **headers)
    assert outcomes(expired) == ["miss"]
    assert len(figshare.log) == 2


@pytest.mark.redis
def test_redis_entries_follow_the_same_clock(
    make_clocked_gateway: ClockedFactory, figshare: Any, redis_space: RedisSpace
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, cache_url=redis_space.url)
    assert outcomes(gateway.query(RECENT, x_stats_trace="1")) == ["miss"]
    clock.advance(59)
    assert outcomes(gateway.query(RECENT, x_stats_trace="1")) == ["hit"]
    clock.advance(1)
    assert outcomes(gateway.query(RECENT, x_stats_trace="1")) == ["miss"]
    assert len(figshare.log) == 2


def test_errors_are_never_cached(make_gateway: GatewayFactory, figshare: Any, cache_url: str) -> None:
    gateway = make_gateway(cache_url=cache_url, upstream_retries=0)  # the one 503 is the answer
    figshare.faults.inject("/total/views/article/766364", status=503, body=b"{}", times=1)
    assert codes(gateway.query(ARTICLE_TOTAL)) == ["UPSTREAM_UNAVAILABLE"]
    data_of(gateway.query(ARTICLE_TOTAL))  # the failure was not kept: asked again, and answered
    data_of(gateway.query(ARTICLE_TOTAL))  # the answer was
    assert len(figshare.log) == 2

    for _ in range(2):
        response = gateway.post(LBORO_SERIES, x_figshare_authorization=MONASH)
        assert codes(response.json()) == ["FORBIDDEN"]
        assert response.headers["cache-control"] == "no-store"
    assert len(figshare.log) == 4


def test_the_memory_bound_is_the_configured_one(make_gateway: GatewayFactory, figshare: Any) -> None:
    # Upstream answers only: whole responses would take their share of the entries too.
    gateway = make_gateway(cache_url="memory://", cache_max_entries=1, response_cache=False)
    for query in (SETTLED, RECENT, SETTLED):
        data_of(gateway.query(query))
    assert len(figshare.log) == 3  # one entry fits: RECENT pushed SETTLED out

    roomier = make_gateway(cache_url="memory://", cache_max_entries=2, response_cache=False)
    figshare.log.clear()
    for query in (SETTLED, RECENT, SETTLED):
        data_of(roomier.query(query))
    assert len(figshare.log) == 2


# ---------------------------------------------------------------------- telling clients


def test_cache_control_carries_the_smallest_remaining_lifetime(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock)
    both = (
        '{ figshare { article(id: "766364") { past: views(startDate: "2026-01-01", '
        'endDate: "2026-01-31") { total } now: views { total } } } }'
    )
    first = gateway.post(both)
    assert first.headers["cache-control"] == "public, max-age=60"
    assert "authorization" in first.headers["vary"].lower()
    clock.advance(20)
    later = gateway.post(both, x_stats_trace="1")
    assert later.headers["cache-control"] == "public, max-age=40"
    assert sorted((r["cache"], r["ageSeconds"]) for r in trace(later.json())) == [("hit", 20), ("hit", 20)]
    assert len(figshare.log) == 2


def test_credentialed_answers_are_private(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(cache_url="memory://")
    for _ in range(2):  # on the miss and on the hit
        response = gateway.post(USER_TOTAL, Authorization=f"Bearer {TOKEN_A}")
        data_of(response.json())
        assert response.headers["cache-control"] == "private, no-store"
    # Without a token the user field fails: a response with an error is never kept.
    mixed = gateway.post(
        f'{{ zooniverse {{ classifications {{ total }} user(id: "{USER}") {{ classifications {{ total }} }} }} }}'
    )
    assert codes(mixed.json()) == ["UNAUTHENTICATED"]
    assert mixed.headers["cache-control"] == "no-store"


def test_the_trace_lists_each_upstream_request_and_never_a_credential(
    make_gateway: GatewayFactory, cache_url: str
) -> None:
    gateway = make_gateway(cache_url=cache_url)
    query = (
        f'{{ zooniverse {{ classifications {{ total }} user(id: "{USER}") '
        "{ classifications { total } } } "
        'figshare { article(id: "766364") { views { total } } } }'
    )
    untraced = gateway.query(query, Authorization=f"Bearer {TOKEN_A}")
    assert "statsTrace" not in (untraced.get("extensions") or {})

    response = gateway.post(query, Authorization=f"Bearer {TOKEN_A}", x_stats_trace="1")
    records = sorted(trace(response.json()), key=lambda r: r["target"])
    assert [(r["source"], r["target"], r["cache"], r["credentialed"]) for r in records] == [
        ("ERAS", "/classifications", "hit", False),
        ("ERAS", USER_PATH, "hit", True),
        ("FIGSHARE", "/total/views/article/766364", "hit", False),
    ]
    for record in records:
        assert record["ageSeconds"] >= 0
        assert set(record) == {
            "source",
            "method",
            "target",
            "cache",
            "ageSeconds",
            "ttlSeconds",
            "credentialed",
            "paths",
        }
    for secret in secrets_of_the_test():
        assert secret not in response.text
        assert secret not in str(response.headers)


# ---------------------------------------------------------------------- credentials stay out


@pytest.mark.redis
def test_redis_never_holds_a_credential_in_clear(
    make_gateway: GatewayFactory, redis_space: RedisSpace
) -> None:
    gateway = make_gateway(cache_url=redis_space.url)
    data_of(gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_A}"))
    data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    assert codes(gateway.query(LBORO_SERIES, x_figshare_authorization=MONASH)) == ["FORBIDDEN"]
    stored = redis_space.items()
    # The two upstream answers and the two responses made of them; the refusal was not kept.
    assert len(stored) == 4
    assert sum(b":resp:" in key for key in stored) == 2
    for key, value in stored.items():
        for secret in secrets_of_the_test():
            assert secret.encode() not in key
            assert secret.encode() not in value


def test_credentials_never_reach_the_logs(
    make_gateway: GatewayFactory, eras: Any, figshare: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Redis unreachable too, so the cache's own trouble is logged along the way.
    gateway = make_gateway(cache_url="redis://127.0.0.1:1/0")
    data_of(gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_A}"))
    data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    assert codes(gateway.query(LBORO_SERIES, x_figshare_authorization=MONASH)) == ["FORBIDDEN"]
    eras.faults.inject(USER_PATH, status=500, body=b"{}")
    assert codes(gateway.query(USER_TOTAL, Authorization=f"Bearer {TOKEN_B}")) == ["UPSTREAM_UNAVAILABLE"]
    assert "cache redis unavailable" in caplog.text  # the logs were captured...
    for secret in secrets_of_the_test():
        assert secret not in caplog.text  # ...and hold no credential
