"""Stale-if-error: an expired answer still held is served when its upstream fails, and said so.

The cache clock is moved by hand; failures are injected in the emulators. Retries are off here:
what is tested is what happens once a call has failed (tests/test_retries.py covers retries).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.emulators import figshare_data
from gateway.upstream.breaker import CircuitBreaker
from tests.cache_support import ClockedFactory, FakeClock
from tests.conftest import codes, data_of

pytest_plugins = ("tests.cache_fixtures",)

RECENT = '{ figshare { article(id: "766364") { views(startDate: "2026-11-01") { total } } } }'
RECENT_PATH = "/timeline/total/views/article/766364"
LBORO = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["lboro"])
MONASH = figshare_data.basic_header(*figshare_data.DEMO_INSTITUTIONS["monash"])
LBORO_SERIES = (
    '{ figshare(institution: "lboro") { article(id: "766364") { views(startDate: "2026-01-01", '
    'endDate: "2026-01-31") { series(period: DAY) { start count } } } } }'
)
TTL = 60  # recent and credentialed answers, by default


def total(result: dict[str, Any]) -> int:
    value: int = data_of(result)["figshare"]["article"]["views"]["total"]
    return value


def test_an_expired_answer_is_served_when_the_upstream_fails_and_the_response_says_so(
    make_clocked_gateway: ClockedFactory, figshare: Any, cache_url: str
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0, cache_url=cache_url)
    fresh = gateway.query(RECENT)
    assert "stale" not in (fresh.get("extensions") or {})

    clock.advance(TTL + 30)
    figshare.faults.inject(RECENT_PATH, status=503, body=b"{}")
    response = gateway.post(RECENT, x_stats_trace="1")
    result = response.json()
    assert total(result) == total(fresh)
    assert result["extensions"]["stale"] == [{"source": "FIGSHARE", "ageSeconds": TTL + 30}]
    assert [r["cache"] for r in result["extensions"]["statsTrace"]] == ["stale"]
    assert response.headers["warning"] == '110 stats-gateway "Response is Stale"'
    assert response.headers["cache-control"] == "public, max-age=0"
    assert len(figshare.log) == 2  # the upstream was asked, and failed

    figshare.faults.clear()
    recovered = gateway.post(RECENT)
    assert "stale" not in (recovered.json().get("extensions") or {})
    assert "warning" not in recovered.headers
    assert recovered.headers["cache-control"] == f"public, max-age={TTL}"


def test_stale_is_said_without_the_trace_header(make_clocked_gateway: ClockedFactory, figshare: Any) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0)
    query = "{ zooniverse { classifications { total } } " + RECENT[1:]
    data_of(gateway.query(query))
    clock.advance(TTL + 1)
    figshare.faults.inject(RECENT_PATH, status=500, body=b"{}")
    result = gateway.query(query)
    data_of(result)
    # Only the part that came from an expired copy is named.
    assert result["extensions"] == {"stale": [{"source": "FIGSHARE", "ageSeconds": TTL + 1}]}


def test_a_timeout_is_answered_from_the_stale_copy(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0, upstream_timeout_s=0.3)
    fresh = total(gateway.query(RECENT))
    clock.advance(TTL)
    figshare.faults.inject(RECENT_PATH, hang=True, times=1)
    result = gateway.query(RECENT)
    assert total(result) == fresh
    assert result["extensions"]["stale"][0]["source"] == "FIGSHARE"


def test_an_open_circuit_is_answered_from_the_stale_copy(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0, breaker_failures=1, breaker_reset_s=3600)
    fresh = total(gateway.query(RECENT))
    clock.advance(TTL)
    figshare.faults.inject(RECENT_PATH, status=503, body=b"{}", times=1)
    assert total(gateway.query(RECENT)) == fresh  # fails, opens the circuit, answered stale
    result = gateway.query(RECENT)  # the circuit is open: no request at all, still answered
    assert total(result) == fresh
    assert "stale" in result["extensions"]
    assert len(figshare.log) == 2


@pytest.mark.parametrize(
    ("overrides", "too_old"),
    [
        pytest.param({}, TTL + 86_400 + 1, id="default-24h"),
        pytest.param({"cache_max_stale_s": 100}, TTL + 101, id="configured"),
    ],
)
def test_nothing_older_than_the_maximum_staleness_is_served(
    make_clocked_gateway: ClockedFactory,
    figshare: Any,
    cache_url: str,
    overrides: dict[str, Any],
    too_old: int,
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0, cache_url=cache_url, **overrides)
    data_of(gateway.query(RECENT))
    figshare.faults.inject(RECENT_PATH, status=503, body=b"{}")
    clock.advance(too_old - 1)
    assert "stale" in gateway.query(RECENT)["extensions"]  # just within
    clock.advance(1)
    result = gateway.query(RECENT)
    assert codes(result) == ["UPSTREAM_UNAVAILABLE"]
    assert result["data"]["figshare"]["article"]["views"]["total"] is None
    assert "stale" not in (result.get("extensions") or {})


def test_a_stale_copy_is_only_served_to_the_same_credential(
    make_clocked_gateway: ClockedFactory, figshare: Any, cache_url: str
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0, cache_url=cache_url)
    fresh = data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    clock.advance(TTL + 1)
    figshare.faults.inject("/lboro/", status=503, body=b"{}")

    other = gateway.query(LBORO_SERIES, x_figshare_authorization=MONASH)
    assert codes(other) == ["UPSTREAM_UNAVAILABLE"]
    assert codes(gateway.query(LBORO_SERIES)) == ["UNAUTHENTICATED"]

    same = gateway.post(LBORO_SERIES, x_figshare_authorization=LBORO)
    assert data_of(same.json()) == fresh
    assert same.headers["cache-control"] == "private, no-store"
    assert "warning" in same.headers


def test_a_refusal_is_not_papered_over_with_a_stale_copy(
    make_clocked_gateway: ClockedFactory, figshare: Any
) -> None:
    clock = FakeClock()
    gateway = make_clocked_gateway(clock, upstream_retries=0)
    data_of(gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO))
    clock.advance(TTL + 1)
    # The upstream now refuses the credential (revoked): its answer stands, not the old copy.
    figshare.faults.inject("/lboro/", status=403, body=b'{"message": "Forbidden"}')
    result = gateway.query(LBORO_SERIES, x_figshare_authorization=LBORO)
    assert codes(result) == ["FORBIDDEN"]
    assert "stale" not in (result.get("extensions") or {})


# ---------------------------------------------------------------------- the circuit


def test_an_open_circuit_lets_one_trial_through_after_the_reset_time() -> None:
    clock = FakeClock(0)
    breaker = CircuitBreaker(failures=2, reset_s=30, clock=clock)
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()  # open
    clock.advance(30)
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one
    breaker.success()
    assert breaker.allow()
    assert not breaker.is_open


def test_a_trial_whose_outcome_never_comes_does_not_keep_the_circuit_open() -> None:
    clock = FakeClock(0)
    breaker = CircuitBreaker(failures=1, reset_s=30, clock=clock)
    breaker.failure()
    clock.advance(30)
    assert breaker.allow()  # the trial's caller goes away: neither success nor failure is told
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()  # another trial
