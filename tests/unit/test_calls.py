"""gateway/upstream/calls.py: one operation's requests, its call budget, and the trace of its calls."""

from __future__ import annotations

import pytest

from gateway.auth import Forwarding
from gateway.errors import BudgetExceeded
from gateway.upstream.calls import CallLog, CallRecord, Outcome, UpstreamRequest


def record(
    key: str, outcome: Outcome = "miss", ttl_left_s: float = 60.0, credentialed: bool = False
) -> CallRecord:
    return CallRecord("ERAS", "GET", f"/comments?k={key}", outcome, 1.5, ttl_left_s, credentialed, key)


def test_a_fields_requests_are_reserved_all_or_none() -> None:
    calls = CallLog(budget=3)
    calls.reserve(["a", "b"])
    with pytest.raises(BudgetExceeded) as refused:
        calls.reserve(["c", "d"])  # one would fit, but the field needs both
    assert calls.planned == {"a", "b"}
    assert calls.refusals == 1
    assert refused.value.extensions == {"code": "UPSTREAM_BUDGET_EXCEEDED", "budget": 3}
    assert refused.value.message.startswith(
        "This field needs 2 more upstream request(s), past the operation's budget of 3 (GATEWAY_MAX_UPSTREAM_CALLS)"
    )
    calls.reserve(["c"])
    assert calls.planned == {"a", "b", "c"}


def test_distinct_keys_count_once() -> None:
    calls = CallLog(budget=2)
    calls.reserve(["a", "a", "b"])  # the same request twice in one field
    calls.reserve(["b", "a"])  # already planned: free
    calls.reserve([])
    assert calls.planned == {"a", "b"}
    assert calls.refusals == 0
    with pytest.raises(BudgetExceeded):
        calls.reserve(["a", "c"])


def test_a_budget_of_zero_refuses_any_request() -> None:
    with pytest.raises(BudgetExceeded):
        CallLog(budget=0).reserve(["a"])


def test_the_trace_lists_each_call_and_the_fields_it_served() -> None:
    calls = CallLog()
    calls.served("k1", ["zooniverse", "a", "total"])
    calls.served("k1", ["zooniverse", "a", "series"])
    calls.served("k2", ["zooniverse", "b"])
    calls.add(record("k1", "miss", ttl_left_s=59.99951))
    calls.add(record("k2", "stale", ttl_left_s=-30, credentialed=True))
    calls.add(record("k3", "hit"))
    assert calls.trace() == [
        {
            "source": "ERAS",
            "method": "GET",
            "target": "/comments?k=k1",
            "cache": "miss",
            "ageSeconds": 1.5,
            "ttlSeconds": 60.0,
            "credentialed": False,
            "paths": [["zooniverse", "a", "total"], ["zooniverse", "a", "series"]],
        },
        {
            "source": "ERAS",
            "method": "GET",
            "target": "/comments?k=k2",
            "cache": "stale",
            "ageSeconds": 1.5,
            "ttlSeconds": 0.0,  # expired: never negative
            "credentialed": True,
            "paths": [["zooniverse", "b"]],
        },
        {
            "source": "ERAS",
            "method": "GET",
            "target": "/comments?k=k3",
            "cache": "hit",
            "ageSeconds": 1.5,
            "ttlSeconds": 60.0,
            "credentialed": False,
            "paths": [],
        },
    ]
    assert [r.key for r in calls.stale] == ["k2"]
    assert calls.credentialed
    assert calls.ttl_left() == -30


def test_an_operation_without_calls() -> None:
    calls = CallLog()
    assert calls.trace() == []
    assert calls.ttl_left() == 0.0
    assert not calls.credentialed
    assert calls.stale == []


def test_a_requests_target_keeps_commas_and_order() -> None:
    request = UpstreamRequest(
        "GET", "/classifications", (("project_id", "1234,335"), ("start_date", "2024-01-01"))
    )
    assert request.target == "/classifications?project_id=1234,335&start_date=2024-01-01"
    assert UpstreamRequest("GET", "/comments").target == "/comments"
    assert UpstreamRequest("GET", "/c", (("q", "a b&c"),)).target == "/c?q=a+b%26c"


def test_a_forwarded_credential_needs_its_scope() -> None:
    with pytest.raises(ValueError, match="needs that credential's cache scope"):
        UpstreamRequest("GET", "/x", forwarding=Forwarding(headers=(("Authorization", "Bearer t"),)))
    scoped = Forwarding(headers=(("Authorization", "Bearer t"),), scope="cred:abc")
    assert UpstreamRequest("GET", "/x", forwarding=scoped).forwarding.credentialed
