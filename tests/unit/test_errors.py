"""gateway/errors.py: answered errors let go of the frames they were raised through."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from graphql import GraphQLError

from gateway.errors import BudgetExceeded, GatewayError, forget_tracebacks


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Only reference counting frees objects while a test runs: cycles stay until collected."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def raised_and_located() -> GraphQLError:
    """As graphql-core handles a field's error: caught, wrapped, and kept in the catching frame."""
    try:
        raise BudgetExceeded(50, 1)
    except GatewayError as raw:
        located = GraphQLError(raw.message, original_error=raw)
    return located


def test_an_error_keeps_its_frames_in_a_cycle_until_collected(no_collector: None) -> None:
    error = raised_and_located()
    raw = weakref.ref(error.original_error)  # type: ignore[arg-type]
    del error
    assert raw() is not None  # the catching frame and the error hold each other
    gc.collect()
    assert raw() is None


def test_forgotten_tracebacks_free_an_answered_error_at_once(no_collector: None) -> None:
    error = raised_and_located()
    raw = weakref.ref(error.original_error)  # type: ignore[arg-type]
    forget_tracebacks([error])
    assert error.original_error is not None
    assert error.original_error.__traceback__ is None
    del error
    assert raw() is None


def test_causes_that_loop_do_not_hang() -> None:
    raised: list[ValueError] = []
    for message in ("a", "b"):
        try:
            raise ValueError(message)
        except ValueError as error:
            raised.append(error)
    first, second = raised
    first.__cause__, second.__cause__ = second, first
    forget_tracebacks([first])
    assert first.__traceback__ is None
    assert second.__traceback__ is None
