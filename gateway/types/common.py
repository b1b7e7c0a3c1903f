"""Types shared by every source: the Date scalar, periods, buckets and the CountSeries interface."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date
from enum import Enum
from typing import Any, NewType, TypeVar, cast

import strawberry
from graphql import StringValueNode, ValueNode, print_ast
from strawberry.types.scalar import scalar

from gateway.dates import Granularity, InvalidDate, parse_day

T = TypeVar("T")


def _serialize_date(value: date) -> str:
    return value.isoformat()


def _parse_date_literal(node: ValueNode, _variables: Any = None) -> date | InvalidDate:
    """Only a string literal can be a day; anything else is named as written (read as a number, an
    integer literal longer than Python converts would be named ``nan``)."""
    if isinstance(node, StringValueNode):
        return parse_day(node.value)
    return InvalidDate(print_ast(node))


Date = NewType("Date", date)
"""A UTC day in annotations. At run time an argument may hold ``InvalidDate`` instead: the scalar
is lenient on purpose, so a bad day fails only the field that received it (BAD_USER_INPUT) rather
than the whole operation; ``Window.of`` does the rejecting."""

DATE_SCALAR = scalar(
    name="Date",
    description=("A calendar day in UTC, written YYYY-MM-DD. Anything else is rejected as BAD_USER_INPUT."),
    serialize=_serialize_date,
    parse_value=parse_day,
    parse_literal=_parse_date_literal,
)

SCALAR_OVERRIDES: dict[object, Any] = {Date: DATE_SCALAR}


# Long lists are handed to graphql-core this many items per turn of the event loop.
PACE = 256


def paced(items: Iterable[T]) -> list[T]:
    """``items`` for a list field: a list when short; else an async iterator that yields the event
    loop after every ``PACE`` items, so that completing a 10,000-bucket series never holds it for
    more than a few milliseconds (graphql-core completes async iterators for list fields)."""
    rest = iter(items)
    head = list(itertools.islice(rest, PACE + 1))
    if len(head) <= PACE:
        return head
    return cast(list[T], _in_turns(head, rest))


async def _in_turns(head: list[T], rest: Iterator[T]) -> AsyncIterator[T]:
    chunk = head
    while chunk:
        for item in chunk:
            yield item
        await asyncio.sleep(0)  # a turn for every other request: nothing is awaited but that
        chunk = list(itertools.islice(rest, PACE))


def path_of(info: Any) -> tuple[str | int, ...]:
    """Where in the response a field is (aliases included), for the trace."""
    return tuple(info.path.as_list())


@strawberry.enum(description="Bucket width of a time series. Weeks start on Monday, all buckets are UTC.")
class Period(Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"

    @property
    def granularity(self) -> Granularity:
        return Granularity[self.value]


@strawberry.type(description="One bucket of a time series.")
class Bucket:
    start: Date = strawberry.field(
        description="UTC day the bucket starts on: the day itself, the Monday on or before it, "
        "the 1st of the month, or January 1."
    )
    count: int
    time_spent: float | None = strawberry.field(
        default=None,
        description="Seconds spent on what was counted, where the source measures it "
        "(Zooniverse classifications); null elsewhere.",
    )


SERIES_DESCRIPTION = (
    "The window cut into buckets, oldest first. Buckets with no events are left out, as both "
    "upstreams do, unless fillGaps is true: then every bucket from the window's first to its last "
    "appears, zeros included (the window's open ends are taken as the first bucket the source "
    "returned and today)."
)


@strawberry.interface(
    description="Event counts over a date window, whatever the source. The window is set by the "
    "startDate and endDate arguments of the field that returned this object; both ends are "
    "inclusive UTC days."
)
class CountSeries:
    @strawberry.field(description="Sum over the whole window.")
    async def total(self) -> int | None:
        raise NotImplementedError

    @strawberry.field(description=SERIES_DESCRIPTION)
    async def series(self, period: Period, fill_gaps: bool = False) -> list[Bucket] | None:
        raise NotImplementedError
