"""Fuzzing over loopback: every request, however odd, gets a typed GraphQL-over-HTTP answer.

Operations are generated from the exported schema (hypothesis-graphql) with dates over the whole
calendar, ids of any length, odd strings and `_entities` representations good and bad, sent over
POST and GET, with and without the demo credentials; some have their argument values lifted into
variables, some of those swapped for values of the wrong type. Raw requests cover what no schema
describes (tests/test_http_protocol.py). Every answer must be JSON with a status below 500 whose
every error has a code other than INTERNAL_SERVER_ERROR. bench/fuzz_bench.py sends the same
requests 10^4 times.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

import graphql
import hypothesis_graphql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes

from gateway.examples import demo_headers
from gateway.schema import schema
from tests.conftest import GatewayFactory
from tests.test_http_protocol import GRAPHQL_RESPONSE, Request, raw_requests, send, typed_answer
from tests.test_inputs import (
    DAYS,
    EDGE_DAYS,
    ENTITY_TYPES,
    IDS,
    JSON_VALUES,
    REPRESENTATIONS,
    STRINGS,
    good_id,
)

# The exported SDL as a graphql-core schema (it uses federation directives it does not define).
SCHEMA = graphql.build_schema(schema.as_str(), assume_valid_sdl=True)


def fuzz(examples: int) -> settings:
    """A bounded run: no deadline (requests cross real sockets), failures printed as blobs."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


def value_node(value: Any) -> graphql.ValueNode:
    """A JSON-like value as a GraphQL literal (keys that are no GraphQL names are left out)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([value_node(v) for v in value])
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=value_node(v))
            for k, v in value.items()
            if re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", k)
        ]
    )


# Integer literals of any length, past Python's int conversion limit too.
INTEGERS = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.text(alphabet="0123456789", min_size=4300, max_size=4400).map("1{}".format),
).map(lambda text: graphql.IntValueNode(value=text))
SCALARS = {
    "Date": st.one_of(DAYS.map(nodes.String), INTEGERS),
    "ID": st.one_of(IDS.map(nodes.String), INTEGERS),
    "String": STRINGS.map(nodes.String),
    "Int": INTEGERS,
    "_Any": REPRESENTATIONS.map(value_node),
}
ACCEPT = st.sampled_from(["application/json", GRAPHQL_RESPONSE, "*/*", ""])
CREDENTIALS = st.sampled_from([{}, demo_headers()])


def operations(mode: Mode = Mode.POSITIVE) -> st.SearchStrategy[str]:
    return hypothesis_graphql.queries(SCHEMA, custom_scalars=SCALARS, mode=mode)


def lift(document: str, lifted: list[bool], swaps: list[Any]) -> tuple[str, dict[str, Any]]:
    """``document`` with the i-th argument's value moved into a variable where ``lifted[i]``
    (cycled), every third of those swapped for one of ``swaps`` (often of the wrong type)."""
    info = graphql.TypeInfo(SCHEMA)
    definitions: list[graphql.VariableDefinitionNode] = []
    values: dict[str, Any] = {}
    seen = [0]

    class Lift(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
            index, seen[0] = seen[0], seen[0] + 1
            argument = info.get_argument()
            if argument is None or not lifted[index % len(lifted)]:
                return None
            value = graphql.value_from_ast_untyped(node.value)
            if swaps and index % 3 == 0:
                value = swaps[index % len(swaps)]
            try:
                json.dumps(value, allow_nan=False)
            except ValueError:  # an integer past Python's conversion limit stays a literal
                return None
            name = f"v{len(values)}"
            values[name] = value
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(
                graphql.VariableDefinitionNode(variable=variable, type=graphql.parse_type(str(argument.type)))
            )
            return graphql.ArgumentNode(name=node.name, value=variable)

        def leave_operation_definition(self, node: graphql.OperationDefinitionNode, *_: Any) -> Any:
            return dataclasses.replace(node, variable_definitions=tuple(definitions))

    changed = graphql.visit(graphql.parse(document), graphql.TypeInfoVisitor(info, Lift()))
    return graphql.print_ast(changed), values


def post(
    query: str, variables: Any = None, accept: str = "", credentials: dict[str, str] | None = None
) -> Request:
    body = {"query": query} if variables is None else {"query": query, "variables": variables}
    return {"method": "POST", "json": body, "headers": {"accept": accept, **(credentials or {})}}


def get(query: str, accept: str = "", credentials: dict[str, str] | None = None) -> Request:
    url = "/graphql?" + urlencode({"query": query})
    return {"method": "GET", "url": url, "headers": {"accept": accept, **(credentials or {})}}


def operation_requests() -> st.SearchStrategy[Request]:
    """Generated operations (valid, and with one schema violation), over POST and over GET."""
    generated = st.one_of(operations(), operations(Mode.NEGATIVE))
    return st.one_of(
        st.builds(post, generated, accept=ACCEPT, credentials=CREDENTIALS),
        st.builds(get, generated, accept=ACCEPT, credentials=CREDENTIALS),
    )


def variable_requests() -> st.SearchStrategy[Request]:
    lifted = st.builds(
        lift, operations(), st.lists(st.booleans(), min_size=1, max_size=8), st.lists(JSON_VALUES, max_size=3)
    )
    return st.builds(lambda pair, accept: post(*pair, accept=accept), lifted, ACCEPT)


ENTITIES_QUERY = "query($r: [_Any!]!) { _entities(representations: $r) { __typename %s } }" % " ".join(
    f"... on {t} {{ id }}" for t in ENTITY_TYPES
)


def entity_requests() -> st.SearchStrategy[Request]:
    return st.lists(REPRESENTATIONS, max_size=6).map(lambda r: post(ENTITIES_QUERY, {"r": r}))


DATES_QUERY = """query($s: Date, $e: Date, $p: Period!) {
  zooniverse { classifications(startDate: $s, endDate: $e) { total series(period: $p, fillGaps: true) { count } } }
  figshare { article(id: "766364") { views(startDate: $s, endDate: $e) {
    total series(period: $p, fillGaps: true) { count } countries(limit: 2) { country } } } }
}"""


def date_requests() -> st.SearchStrategy[Request]:
    days = st.one_of(EDGE_DAYS.map(date.isoformat), DAYS)
    periods = st.sampled_from(["DAY", "WEEK", "MONTH", "YEAR"])
    return st.builds(lambda s, e, p: post(DATES_QUERY, {"s": s, "e": e, "p": p}), days, days, periods)


# ------------------------------------------------------------------ the tests


def test_generated_operations_get_typed_answers(make_gateway: GatewayFactory) -> None:
    http = make_gateway().http

    @fuzz(250)
    @given(st.one_of(operation_requests(), variable_requests()))
    def run(request: Request) -> None:
        typed_answer(send(http, request))

    run()


def test_raw_requests_get_typed_answers(make_gateway: GatewayFactory) -> None:
    http = make_gateway(max_body_bytes=16_384, cache_url="memory://").http  # the response cache too

    @fuzz(150)
    @given(raw_requests())
    def run(request: Request) -> None:
        typed_answer(send(http, request))

    run()


def test_dates_over_the_whole_calendar_get_data_or_bad_user_input(make_gateway: GatewayFactory) -> None:
    http = make_gateway(breaker_failures=0).http  # upstream faults below must not cut the others off

    @fuzz(50)
    @given(date_requests())
    def run(request: Request) -> None:
        for error in typed_answer(send(http, request)).get("errors", []):
            assert error["extensions"]["code"] in ("BAD_USER_INPUT", "UPSTREAM_BUDGET_EXCEEDED"), error

    run()


def test_each_bad_entity_representation_fails_alone(make_gateway: GatewayFactory) -> None:
    http = make_gateway().http

    @fuzz(80)
    @given(st.lists(REPRESENTATIONS, max_size=6))
    def run(representations: list[Any]) -> None:
        body = typed_answer(send(http, post(ENTITIES_QUERY, {"r": representations})))
        if None in representations:
            assert body["data"] is None  # [_Any!]! refuses null items before anything runs
            return
        failed = {e["path"][1]: e["extensions"]["code"] for e in body.get("errors", [])}
        entities = body["data"]["_entities"]
        assert len(entities) == len(representations)
        for index, (representation, entity) in enumerate(zip(representations, entities, strict=True)):
            expected = good_id(representation)
            if expected is None:
                assert (entity, failed[index]) == (None, "BAD_USER_INPUT")
            else:
                assert entity == {"__typename": representation["__typename"], "id": expected}
                assert index not in failed

    run()
