"""GraphQL over HTTP: every request, however malformed, gets a JSON answer with a coded error.

Statuses as the GraphQL-over-HTTP spec says: with ``application/json``, 200 for any well-formed
request (parse and validation errors included) and 400 for malformed ones; with
``application/graphql-response+json``, 400 for request errors too. 405 (with ``Allow``) for other
methods and mutations over GET, 413 past GATEWAY_MAX_BODY_BYTES, 415 for other content types.
None of these requests costs anything upstream. The raw-request strategies here also drive
tests/test_fuzz.py and bench/fuzz_bench.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import strategies as st

from tests.conftest import Gateway, GatewayFactory, Upstream
from tests.test_inputs import JSON_VALUES

GRAPHQL_RESPONSE = "application/graphql-response+json"
Request = dict[str, Any]  # keyword arguments of httpx.Client.request

ODD_BODIES = [
    b"", b"null", b"123", b"true", b'"{ __typename }"', b"[]", b'[{"query": "{ __typename }"}]', b"{",
    b'{"query": "{ __typename }",}', b'{"query": 1}', b'{"query": null}', b'{"query": ""}',
    b'{"query": "{ __typename }", "variables": []}', b'{"query": "{ __typename }", "variables": "{}"}',
    b'{"query": "{ __typename }", "extensions": 1}', b'{"query": "{ __typename }", "operationName": ["a"]}',
    b'{"query": "query($x: Int) { __typename }", "variables": {"x": 1' + b"0" * 5000 + b"}}",
    b'{"query": "{ __typename }", "variables": {"x": 1e999}}', b'{"query": "{ __typename }", "variables": {"x": NaN}}',
    b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 300 + b"]" * 300 + b"}}",
    b'{"query": "{ zooniverse { user(id: \\"\xff\\") { id } } }"}', b'\xff\xfe{"query": "{ __typename }"}',
    b'{"query": "{ __typename ', b'{"query": "mutation { x }"}', b'{"query": "query A { __typename } query B { __typename }"}',
    b'{"query": "{ __typename }", "operationName": "Nope"}', b'{"query": "{ a: __typename }", "extra": 1}',
    b'{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}}',
    b'{"extensions": {"persistedQuery": {"version": 2}}}', b'{"extensions": {"persistedQuery": "x"}}',
    b'{"query": "' + b"{ __typename }" * 3000 + b'"}',
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", GRAPHQL_RESPONSE,
    "application/graphql", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
]  # fmt: skip
ODD_QUERY_STRINGS = [
    "query={__typename}&variables={", "query={__typename}&variables=[1]", "query={__typename}&extensions=null",
    'query={__typename}&extensions={"persistedQuery":1}', "query=mutation{x}", "query=mutation%20M%7Bx%7D&operationName=M",
    "query=%ff%fe", "query=%7B__typename&x=1", "variables=%7B%7D", "query={__typename}&operationName=Nope", "",
]  # fmt: skip
ACCEPT = st.sampled_from(["application/json", GRAPHQL_RESPONSE, "*/*", ""])
# Methods the HTTP parser knows (a token it does not know, such as FOO, the server refuses itself).
METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "PURGE"]
# The octets a header value may hold (RFC 9110: visible ASCII, space, tab and obs-text).
ODD_CREDENTIALS = [b"Bearer \xff\xfe", b"Bearer caf\xe9", b"Basic \xc3\xa9", b"Bearer", b"Bearer  x"]
HEADER_VALUES = st.one_of(
    st.lists(st.sampled_from([9, *range(0x20, 0x7F), *range(0x80, 0x100)]), min_size=1, max_size=40)
    .map(bytes)
    .map(lambda b: b.strip(b" \t") or b"x"),  # the client sends no padding around a value
    st.sampled_from(ODD_CREDENTIALS),
)
CREDENTIAL_QUERIES = [
    '{ zooniverse { user(id: "1") { classifications { total } } } }',
    '{ zooniverse { userGroup(id: "42") { classifications { total } } } }',
    '{ figshare(institution: "lboro") { article(id: "766364") { views(startDate: "2026-01-01") { total } } } }',
]


def raw_requests() -> st.SearchStrategy[Request]:
    """Malformed and odd requests to /graphql: bodies, content types, methods, query strings, headers."""
    json_bodies = JSON_VALUES.map(lambda v: json.dumps(v).encode())
    bodies = st.one_of(json_bodies, st.sampled_from(ODD_BODIES), st.binary(max_size=64))
    query_strings = st.one_of(
        st.sampled_from(ODD_QUERY_STRINGS),
        st.text(max_size=40).map(lambda t: "query=" + quote(t)),
        st.binary(max_size=20).map(lambda b: "query=%7B__typename%7D&variables=" + quote(b)),
    )
    accept = st.fixed_dictionaries({"accept": ACCEPT})
    typed = st.fixed_dictionaries({"content-type": st.sampled_from(CONTENT_TYPES), "accept": ACCEPT})
    credential = st.tuples(st.sampled_from([b"authorization", b"x-figshare-authorization"]), HEADER_VALUES)
    return st.one_of(
        st.fixed_dictionaries({"method": st.just("POST"), "content": bodies, "headers": typed}),
        st.fixed_dictionaries(
            {"method": st.just("GET"), "url": query_strings.map("/graphql?{}".format), "headers": accept}
        ),
        st.fixed_dictionaries({"method": st.sampled_from(METHODS), "content": bodies}),
        st.fixed_dictionaries(
            {
                "method": st.just("POST"),
                "json": st.sampled_from(CREDENTIAL_QUERIES).map(lambda q: {"query": q}),
                "headers": credential.map(lambda header: [header]),
            }
        ),
    )


def send(http: httpx.Client, request: Request) -> httpx.Response:
    request = {"url": "/graphql", **request}
    return http.request(request.pop("method"), request.pop("url"), **request)


def typed_answer(response: httpx.Response) -> dict[str, Any]:
    """The body of a GraphQL-over-HTTP answer, once the promises every answer keeps are checked:
    a status below 500, a JSON object, and a code other than INTERNAL_SERVER_ERROR on each error."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(("application/json", GRAPHQL_RESPONSE))
    body = response.json()
    assert isinstance(body, dict), body
    assert "data" in body or body.get("errors"), body
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str), error
        assert error["message"], error
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str), error
        assert code != "INTERNAL_SERVER_ERROR", error
    return body


def answer(response: httpx.Response, status: int, code: str) -> str:
    """The message of an answer that must be ``status`` with one error coded ``code``."""
    body = typed_answer(response)
    assert response.status_code == status, (response.status_code, body)
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    return str(body["errors"][0]["message"])


@pytest.fixture
def quiet(gateway: Gateway, eras: Upstream, figshare: Upstream, caplog: pytest.LogCaptureFixture) -> Iterator[httpx.Client]:  # fmt: skip
    """The gateway's client; afterwards, nothing went upstream and nothing was logged as an error."""
    with caplog.at_level(logging.ERROR):
        yield gateway.http
    assert (len(eras.log), len(figshare.log)) == (0, 0)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def post_raw(http: httpx.Client, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return http.post("/graphql", content=body, headers={"content-type": content_type})


# ------------------------------------------------------------------ malformed requests: 4xx

NO_REQUEST = [(b"null", "query"), (b"123", "query"), (b"true", "query"), (b'"{ __typename }"', "query"), (b"{}", "query"), (b'[{"query": "{ __typename }"}]', "Batched")]  # fmt: skip
# Not JSON at all, or not JSON the gateway can read (a number past what a double holds).
NOT_JSON = [b"{", b'{"query": "{ __typename }",}', b"\xff\xfe{}", b'{"x": NaN}', b"", b'{"x": 1' + b"0" * 5000 + b"}"]  # fmt: skip
WRONG_TYPES = [
    ("query", 1),
    ("variables", []),
    ("variables", "{}"),
    ("operationName", ["a"]),
    ("extensions", 1),
]
BAD_GETS = [
    "query={__typename}&variables={",
    "query={__typename}&variables=[1]",
    "query={__typename}&extensions=[]",
    "",
]


@pytest.mark.parametrize(("body", "says"), NO_REQUEST)
def test_bodies_that_are_no_request_object_are_400(quiet: httpx.Client, body: bytes, says: str) -> None:
    assert says in answer(post_raw(quiet, body), 400, "BAD_REQUEST")


@pytest.mark.parametrize("body", NOT_JSON)
def test_bodies_that_are_not_json_are_400(quiet: httpx.Client, body: bytes) -> None:
    assert "not JSON" in answer(post_raw(quiet, body), 400, "BAD_REQUEST")


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_parameters_of_the_wrong_type_are_400(quiet: httpx.Client, field: str, value: Any) -> None:
    body = {"query": "{ __typename }", field: value}
    assert field in answer(quiet.post("/graphql", json=body), 400, "BAD_REQUEST")


def test_variables_nested_past_the_bound_are_400(make_gateway: GatewayFactory) -> None:
    http = make_gateway(cache_url="memory://").http  # the response cache keys answers by variables
    nested: Any = []
    for depth in range(1, 300):
        nested = [nested]
        if depth in (30, 299):
            response = http.post("/graphql", json={"query": "{ __typename }", "variables": {"x": nested}})
            if depth == 30:
                assert typed_answer(response) == {"data": {"__typename": "Query"}}
            else:
                assert "deeper than 32" in answer(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/graphql", ""]
)
def test_other_content_types_are_415(quiet: httpx.Client, content_type: str) -> None:
    response = post_raw(quiet, b'{"query": "{ __typename }"}', content_type)
    assert "application/json" in answer(response, 415, "BAD_REQUEST")
    assert response.headers["accept-post"] == "application/json"


def test_bodies_over_the_limit_are_413(make_gateway: GatewayFactory, eras: Upstream) -> None:
    http = make_gateway(max_body_bytes=1024).http
    big = json.dumps({"query": "{ __typename }", "variables": {"x": "y" * 2000}}).encode()
    assert "GATEWAY_MAX_BODY_BYTES" in answer(post_raw(http, big), 413, "BAD_REQUEST")
    # Sent in chunks, without a Content-Length: the limit holds as the body arrives.
    chunks = iter([big[:600], big[600:]])
    chunked = http.post("/graphql", content=chunks, headers={"content-type": "application/json"})
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    answer(chunked, 413, "BAD_REQUEST")
    assert len(eras.log) == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "PROPFIND"])
def test_other_methods_are_405_with_allow(quiet: httpx.Client, method: str) -> None:
    response = quiet.request(method, "/graphql", content=b'{"query": "{ __typename }"}')
    answer(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("query", ["mutation { x }", "mutation M { x }", "subscription { x }"])
def test_mutations_over_get_are_405_with_allow_post(quiet: httpx.Client, query: str) -> None:
    response = quiet.get("/graphql", params={"query": query})
    assert "GET" in answer(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("query_string", BAD_GETS)
def test_get_with_bad_parameters_is_400(quiet: httpx.Client, query_string: str) -> None:
    answer(quiet.get("/graphql?" + query_string), 400, "BAD_REQUEST")


# ------------------------------------------------------------------ well-formed requests: 200 (or 400)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ __typename "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": ""}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ zooniverse { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "mutation { x }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query($x: Int) { __typename }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query A { __typename } query B { __typename }"}, "BAD_REQUEST"),
        ({"query": "query A { __typename }", "operationName": "Nope"}, "BAD_REQUEST"),
        (
            {
                "query": "query($l: Int!) { figshare { top(counter: VIEWS, limit: $l) { key } } }",
                "variables": {"l": "x"},
            },
            "BAD_USER_INPUT",
        ),
    ],
)
def test_requests_that_cannot_run_are_200_or_400_by_accept(
    quiet: httpx.Client, body: dict[str, Any], code: str
) -> None:
    plain = quiet.post("/graphql", json=body)
    assert answer(plain, 200, code)
    assert plain.headers["content-type"].startswith("application/json")
    strict = quiet.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})
    assert answer(strict, 400, code)
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)


def test_syntax_errors_say_where(quiet: httpx.Client) -> None:
    body = typed_answer(quiet.post("/graphql", json={"query": "{ zooniverse { classifications( } }"}))
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 33}]
    assert body["errors"][0]["message"].startswith("Syntax Error")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        (" ".join(f"f{i}" for i in range(1000)), "stopped after 100 errors"),
        ("__typename " * 1000, "too costly"),
    ],
)
def test_validation_cut_short_says_why(quiet: httpx.Client, fields: str, says: str) -> None:
    body = typed_answer(quiet.post("/graphql", json={"query": "{ zooniverse { %s } }" % fields}))
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert says in body["errors"][-1]["message"]
    assert all("aborted" not in e["message"] for e in body["errors"])


def test_documents_past_the_token_bound_say_which_setting(quiet: httpx.Client) -> None:
    response = quiet.post("/graphql", json={"query": "{ %s }" % " ".join("a" for _ in range(6000))})
    assert "GATEWAY_MAX_QUERY_TOKENS" in answer(response, 200, "GRAPHQL_PARSE_FAILED")


def test_persisted_queries_unknown_and_mismatched(quiet: httpx.Client) -> None:
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    answer(quiet.post("/graphql", json=unknown), 200, "PERSISTED_QUERY_NOT_FOUND")
    answer(quiet.post("/graphql", json={"query": "{ __typename }", **unknown}), 400, "BAD_REQUEST")
    digest = hashlib.sha256(b"{ __typename }").hexdigest()
    right = {
        "query": "{ __typename }",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
    }
    assert typed_answer(quiet.post("/graphql", json=right)) == {"data": {"__typename": "Query"}}
