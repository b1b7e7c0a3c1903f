"""Cache keys by construction: from the request itself and the scope of the forwarded credential.

The scope comes from ``Auth.forwarding``, the code that decides which credential is sent, so the
properties below hold for every credential that could reach an upstream.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth import PUBLIC, Access, Auth, CallerCredentials, Credential, Forwarding
from gateway.errors import Unauthenticated
from gateway.upstream.calls import UpstreamRequest
from tests.upstream_support import make_upstream

SOURCES = ("ERAS", "FIGSHARE")
# What a header can carry and the gateway forwards: visible ASCII and spaces.
credentials = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200)
params = st.lists(
    st.tuples(st.sampled_from(["start_date", "end_date", "period", "count", "a"]), st.text(max_size=20)),
    max_size=6,
    unique_by=lambda kv: kv[0],
)


ERAS = make_upstream("ERAS", base_url="http://127.0.0.1:9")
FIGSHARE = make_upstream("FIGSHARE", base_url="http://127.0.0.1:9")
CLIENTS = {"ERAS": ERAS, "FIGSHARE": FIGSHARE}
AUTH = Auth("per-deployment-secret")


def caller(source: str, credential: str | None) -> CallerCredentials:
    if credential is None:
        return CallerCredentials()
    if source == "ERAS":
        return CallerCredentials(eras=Credential(credential))
    return CallerCredentials(figshare=Credential(credential))


def request_with(forwarding: Forwarding, path: str = "/classifications/users/1") -> UpstreamRequest:
    return UpstreamRequest("GET", path, params=(("period", "day"),), forwarding=forwarding)


def key_for(source: str, credential: str | None, path: str = "/classifications/users/1") -> str:
    forwarding = AUTH.forwarding(source, Access.OPTIONAL, caller(source, credential), what="test")
    return CLIENTS[source].cache_key(request_with(forwarding, path))


@settings(max_examples=300, deadline=None)
@given(a=credentials, b=credentials, source=st.sampled_from(SOURCES))
def test_two_different_credentials_never_share_an_entry(a: str, b: str, source: str) -> None:
    if a == b:
        assert key_for(source, a) == key_for(source, b)
    else:
        assert key_for(source, a) != key_for(source, b)
    # Neither shares with the public entry of the same request.
    assert key_for(source, a) != key_for(source, None)


@settings(max_examples=200, deadline=None)
@given(credential=credentials, source=st.sampled_from(SOURCES))
def test_the_key_never_holds_the_credential(credential: str, source: str) -> None:
    forwarding = AUTH.forwarding(source, Access.REQUIRED, caller(source, credential), what="test")
    key = CLIENTS[source].cache_key(request_with(forwarding))
    # The key is "v2:<source>:<sha256 hex>" whatever the credential: nothing of it shows through.
    prefix, _, digest = key.rpartition(":")
    assert prefix == f"v2:{source}"
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    assert re.fullmatch(r"cred:[0-9a-f]{64}", forwarding.scope)


@settings(max_examples=100, deadline=None)
@given(credential=credentials)
def test_scopes_depend_on_the_deployment_secret(credential: str) -> None:
    here = Auth("secret-one").scope_of("ERAS", Credential(credential))
    there = Auth("secret-two").scope_of("ERAS", Credential(credential))
    assert here != there


@settings(max_examples=200, deadline=None)
@given(pairs=params)
def test_parameter_order_does_not_matter(pairs: list[tuple[str, str]]) -> None:
    forward = UpstreamRequest("GET", "/classifications", params=tuple(pairs))
    backward = UpstreamRequest("GET", "/classifications", params=tuple(reversed(pairs)))
    assert ERAS.cache_key(forward) == ERAS.cache_key(backward)


@settings(max_examples=200, deadline=None)
@given(one=params, other=params)
def test_different_parameters_have_different_keys(
    one: list[tuple[str, str]], other: list[tuple[str, str]]
) -> None:
    a = ERAS.cache_key(UpstreamRequest("GET", "/classifications", params=tuple(one)))
    b = ERAS.cache_key(UpstreamRequest("GET", "/classifications", params=tuple(other)))
    assert (a == b) == (sorted(one) == sorted(other))


def test_every_part_of_the_request_is_in_the_key() -> None:
    base = UpstreamRequest("GET", "/count/articles", params=(("a", "1"),), body=b'{"groups":[{"id":1}]}')
    variants = [
        UpstreamRequest("POST", "/count/articles", params=(("a", "1"),), body=b'{"groups":[{"id":1}]}'),
        UpstreamRequest("GET", "/count/other", params=(("a", "1"),), body=b'{"groups":[{"id":1}]}'),
        UpstreamRequest("GET", "/count/articles", params=(("a", "2"),), body=b'{"groups":[{"id":1}]}'),
        UpstreamRequest("GET", "/count/articles", params=(("a", "1"),), body=b'{"groups":[{"id":2}]}'),
        UpstreamRequest("GET", "/count/articles", params=(("a", "1"),)),
    ]
    keys = {FIGSHARE.cache_key(r) for r in [base, *variants]}
    assert len(keys) == 1 + len(variants)
    # The upstream's address and the source are part of it too.
    elsewhere = make_upstream("FIGSHARE", base_url="http://127.0.0.1:10")
    assert elsewhere.cache_key(base) != FIGSHARE.cache_key(base)
    assert ERAS.cache_key(base) != FIGSHARE.cache_key(base)


def test_equal_json_bodies_share_a_key() -> None:
    spaced = UpstreamRequest("POST", "/count/articles", body=b'{"b": 1, "a": [1, 2]}')
    tight = UpstreamRequest("POST", "/count/articles", body=b'{"a":[1,2],"b":1}')
    assert FIGSHARE.cache_key(spaced) == FIGSHARE.cache_key(tight)


def test_public_requests_share_entries_whoever_asks() -> None:
    # A public route never takes the caller's credential, so callers with and without one share.
    with_token = AUTH.forwarding("ERAS", Access.PUBLIC, caller("ERAS", "Bearer abc"), what="test")
    without = AUTH.forwarding("ERAS", Access.PUBLIC, caller("ERAS", None), what="test")
    assert with_token == without == PUBLIC
    assert ERAS.cache_key(request_with(with_token, "/classifications")) == ERAS.cache_key(
        request_with(without, "/classifications")
    )


def test_a_forwarded_credential_without_its_scope_is_refused() -> None:
    smuggled = Forwarding(headers=(("Authorization", "Bearer abc"),))
    with pytest.raises(ValueError, match="cache scope"):
        UpstreamRequest("GET", "/classifications/users/1", forwarding=smuggled)


@settings(max_examples=100, deadline=None)
@given(credential=st.text(min_size=1, max_size=50).filter(lambda c: not c.isascii() or not c.isprintable()))
def test_a_credential_that_cannot_travel_in_a_header_is_refused_not_forwarded(credential: str) -> None:
    with pytest.raises(Unauthenticated, match="not a usable credential") as refused:
        AUTH.forwarding("ERAS", Access.OPTIONAL, caller("ERAS", credential), what="test")
    assert credential not in refused.value.message
