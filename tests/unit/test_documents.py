"""gateway/documents.py and the executor's worker thread: line numbers found fast and exactly as
graphql-core finds them, and long new documents prepared off the event loop."""

from __future__ import annotations

import threading

from graphql import GraphQLError, Source
from hypothesis import given
from hypothesis import strategies as st

from gateway.documents import IndexedSource, Prepared
from gateway.execution import PREPARE_ON_LOOP_CHARS, Executor
from gateway.schema import schema


@given(st.text(alphabet="ab {}\r\n\u2028", max_size=60), st.data())
def test_line_and_column_are_graphql_cores_own(body: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(body)))
    assert IndexedSource(body).get_location(position) == Source(body).get_location(position)


def test_errors_of_a_long_document_point_at_their_lines() -> None:
    body = "{\n" + "  zooniverse { __typename }\n" * 400 + "  nothingHere\n}"
    error = GraphQLError("x", source=IndexedSource(body), positions=[body.index("nothingHere")])
    assert [(loc.line, loc.column) for loc in error.locations or ()] == [(402, 3)]


def long_query(field: str = "__typename") -> str:
    return "{ zooniverse { " + f"{field} " * (PREPARE_ON_LOOP_CHARS // len(field) + 1) + "} }"


async def test_a_long_new_document_is_prepared_in_the_worker_thread_and_kept() -> None:
    executor = Executor(schema)
    threads: list[str] = []
    prepare = executor._prepare

    def recording(query: str) -> Prepared:
        threads.append(threading.current_thread().name)
        return prepare(query)

    executor._prepare = recording  # type: ignore[method-assign]
    executor.prepare._prepare = recording
    try:
        first = await executor.prepared(long_query())
        again = await executor.prepared(long_query())
        short = await executor.prepared("{ zooniverse { __typename } }")
    finally:
        executor.close()
    assert first is again
    assert first.errors == ()
    assert short.errors == ()
    assert len(threads) == 2
    assert threads[0].startswith("gateway-prepare")
    assert threads[1] == threading.main_thread().name  # short documents stay on the loop
    assert executor.prepare.cache_info().hits == 1


async def test_the_worker_thread_gives_the_same_errors_as_the_loop() -> None:
    executor = Executor(schema)
    try:
        off_loop = await executor.prepared(long_query("nothingHere"))
    finally:
        executor.close()
    on_loop = Executor(schema)._prepare(long_query("nothingHere"))
    assert [e.formatted for e in off_loop.errors] == [e.formatted for e in on_loop.errors]
    assert {(e.extensions or {}).get("code") for e in off_loop.errors} == {"GRAPHQL_VALIDATION_FAILED"}
