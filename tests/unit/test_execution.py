"""gateway/execution.py: parsing and validation cached per document text, and the depth and alias limits."""

from __future__ import annotations

import gc
import weakref

import pytest
from graphql import ExecutionResult, Token, parse

from gateway.documents import Prepared, fields_fixed, unlink_tokens
from gateway.execution import Executor, is_query
from gateway.schema import schema

USER_TOTAL = '{ zooniverse { user(id: "1") { classifications { total } } } }'  # four fields deep


@pytest.fixture
def executor() -> Executor:
    return Executor(schema, max_depth=3, max_aliases=2, max_tokens=60, cache_size=8)


def messages(prepared: Prepared) -> list[str]:
    return [e.message for e in prepared.errors]


def codes(prepared: Prepared) -> list[str]:
    return [(e.extensions or {}).get("code", "") for e in prepared.errors]


# ---------------------------------------------------------------------- the cache


def test_the_same_text_is_parsed_and_validated_once(executor: Executor) -> None:
    first = executor.prepare("{ zooniverse { classifications { total } } }")
    again = executor.prepare("{ zooniverse { classifications { total } } }")
    assert again is first
    assert first.errors == ()
    info = executor.prepare.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)


def test_another_text_is_another_entry_even_if_it_means_the_same(executor: Executor) -> None:
    executor.prepare("{ zooniverse { comments { total } } }")
    executor.prepare("{zooniverse{comments{total}}}")
    info = executor.prepare.cache_info()
    assert (info.hits, info.misses) == (0, 2)


def test_documents_with_errors_are_cached_too(executor: Executor) -> None:
    bad = executor.prepare("{ zooniverse { nothingHere } }")
    assert executor.prepare("{ zooniverse { nothingHere } }") is bad
    assert codes(bad) == ["GRAPHQL_VALIDATION_FAILED"]
    assert executor.prepare.cache_info().hits == 1


def test_the_cache_is_bounded(executor: Executor) -> None:
    for n in range(20):
        executor.prepare(f"{{ a{n}: zooniverse {{ comments {{ total }} }} }}")
    assert executor.prepare.cache_info().currsize == 8


# ---------------------------------------------------------------------- depth


def test_an_operation_deeper_than_the_limit_is_refused(executor: Executor) -> None:
    prepared = executor.prepare(USER_TOTAL)
    assert messages(prepared) == [
        "Operation 'anonymous' is 4 fields deep; at most 3 are allowed (GATEWAY_MAX_DEPTH)."
    ]
    assert codes(prepared) == ["GRAPHQL_VALIDATION_FAILED"]
    assert executor.prepare("{ zooniverse { classifications { total } } }").errors == ()


def test_fragments_are_followed_and_the_operation_named(executor: Executor) -> None:
    prepared = executor.prepare(
        """query Deep { zooniverse { ...U } }
           fragment U on Zooniverse { user(id: "1") { ... on ZooniverseUser { classifications { total } } } }"""
    )
    assert messages(prepared) == [
        "Operation 'Deep' is 4 fields deep; at most 3 are allowed (GATEWAY_MAX_DEPTH)."
    ]


def test_introspection_does_not_count(executor: Executor) -> None:
    prepared = executor.prepare("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }")
    assert prepared.errors == ()
    assert executor.prepare("{ zooniverse { __typename } }").errors == ()


# ---------------------------------------------------------------------- aliases and size


def test_more_aliases_than_allowed_is_one_error(executor: Executor) -> None:
    assert executor.prepare("{ a: zooniverse { b: comments { total } } }").errors == ()
    prepared = executor.prepare(
        "{ a: zooniverse { b: comments { total } c: comments { total } d: comments { total } e: comments { total } } }"
    )
    assert messages(prepared) == ["The document uses more than 2 aliases (GATEWAY_MAX_ALIASES)."]
    assert codes(prepared) == ["GRAPHQL_VALIDATION_FAILED"]


def test_a_document_past_the_token_limit_is_not_parsed(executor: Executor) -> None:
    prepared = executor.prepare("{ zooniverse { " + "comments { total } " * 20 + "} }")
    assert prepared.document is None
    [message] = messages(prepared)
    assert message.endswith("The document has more than 60 tokens (GATEWAY_MAX_QUERY_TOKENS).")
    assert codes(prepared) == ["GRAPHQL_PARSE_FAILED"]


def test_the_operation_and_its_kind() -> None:
    prepared = Executor(schema).prepare("query A { zooniverse { comments { total } } } mutation B { x }")
    assert is_query(prepared.operation("A"))
    assert not is_query(prepared.operation("B"))
    assert prepared.operation("C") is None
    assert prepared.operation(None) is None  # two operations: one must be named


# ---------------------------------------------------------------------- what an operation leaves


class _Context:
    """Stands in for an operation's context: only its lifetime is looked at."""


def test_an_operation_is_freed_with_its_result_without_the_collector(executor: Executor) -> None:
    prepared = executor.prepare("{ zooniverse { __typename } }")
    context = _Context()
    alive = weakref.ref(context)
    gc.disable()  # what is freed now was freed by reference counts, not found by the collector
    try:
        result = executor.execute(prepared, None, None, context)
        assert isinstance(result, ExecutionResult)
        assert result.data == {"zooniverse": {"__typename": "Zooniverse"}}
        del result, context
        assert alive() is None
    finally:
        gc.enable()


def test_a_parsed_document_is_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage, to be looked at
    try:
        document = parse(USER_TOTAL)
        unlink_tokens(document)
        assert document.loc is not None
        assert document.loc.start_token.next is not None  # the forward chain stays
        del document
        gc.collect()
        assert not [o for o in gc.garbage if isinstance(o, Token)]  # all freed by reference counts
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


# ---------------------------------------------------------------------- fields collected once


@pytest.mark.parametrize(
    ("document", "fixed"),
    [
        ("{ zooniverse { __typename } }", True),
        ("query Q($id: ID!) { zooniverse { user(id: $id) { id @include(if: true) } } }", True),
        ("query Q($show: Boolean!) { zooniverse { __typename @include(if: $show) } }", False),
        (
            "query Q($hide: Boolean!) { ...F } fragment F on Query { zooniverse @skip(if: $hide) { __typename } }",
            False,
        ),
        ("query Q($n: Int) { zooniverse { __typename @custom(at: [{deep: $n}]) } }", False),
        ("{ zooniverse { ... @defer { __typename } } }", False),
    ],
)
def test_fields_are_kept_only_where_no_variable_can_change_them(document: str, fixed: bool) -> None:
    assert fields_fixed(parse(document)) is fixed


def test_a_documents_fields_are_collected_by_its_first_operation_only(
    executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphql.execution.executor as graphql_executor

    collected: list[str] = []
    original = graphql_executor.collect_subfields

    def counting(*args: object) -> object:
        collected.append(str(args[4]))  # the return type
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(graphql_executor, "collect_subfields", counting)
    prepared = executor.prepare("{ zooniverse { __typename } }")
    for _ in range(3):
        result = executor.execute(prepared, None, None, _Context())
        assert isinstance(result, ExecutionResult)
        assert result.data == {"zooniverse": {"__typename": "Zooniverse"}}
    assert collected == ["Zooniverse"]


def test_fields_that_depend_on_variables_are_collected_for_each_operation(executor: Executor) -> None:
    prepared = executor.prepare("query Q($show: Boolean!) { zooniverse { __typename @include(if: $show) } }")
    assert prepared.fields is None
    shown = executor.execute(prepared, {"show": True}, None, _Context())
    hidden = executor.execute(prepared, {"show": False}, None, _Context())
    assert isinstance(shown, ExecutionResult)
    assert isinstance(hidden, ExecutionResult)
    assert shown.data == {"zooniverse": {"__typename": "Zooniverse"}}
    assert hidden.data == {"zooniverse": {}}
