"""Dates, windows and UTC buckets, shared by both sources. Pure functions, no I/O.

Every day from 0001-01-01 to 9999-12-31 is a valid input: arithmetic near the ends of the
calendar stops at ``date.max`` instead of failing.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import TypeVar

from gateway.errors import BadUserInput

_ISO_DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
T = TypeVar("T")


class Granularity(Enum):
    """Bucket widths; the values are the names both upstreams use."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class InvalidDate:
    """A Date argument that is not a real YYYY-MM-DD day; resolvers reject it as BAD_USER_INPUT.

    The Date scalar lets it through parsing so that only the field that received it fails.
    """

    raw: str


def parse_day(raw: object) -> date | InvalidDate:
    if isinstance(raw, str) and _ISO_DAY.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    return InvalidDate(str(raw))


@dataclass(frozen=True)
class Window:
    """An inclusive window of UTC days; either end may be open."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def of(cls, start: date | InvalidDate | None, end: date | InvalidDate | None) -> Window:
        """Check the arguments of a field: real days, and start not after end."""
        for name, value in (("startDate", start), ("endDate", end)):
            if isinstance(value, InvalidDate):
                raise BadUserInput(
                    f"{name} must be a calendar day written YYYY-MM-DD, not {value.raw[:40]!r}.",
                    argument=name,
                )
        assert not isinstance(start, InvalidDate)
        assert not isinstance(end, InvalidDate)
        if start is not None and end is not None and start > end:
            raise BadUserInput(
                f"startDate {start.isoformat()} is after endDate {end.isoformat()}.",
                argument="startDate",
            )
        return cls(start, end)

    def settled(self, today: date) -> bool:
        """True when the window ends before today, so its counts no longer change."""
        return self.end is not None and self.end < today


def bucket_start(day: date, granularity: Granularity) -> date:
    """The UTC day a bucket starts on: the day, its Monday, the 1st of its month, or Jan 1."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_bucket(start: date, granularity: Granularity) -> date | None:
    """The start of the bucket after ``start``'s, or None past the end of the calendar."""
    try:
        if granularity is Granularity.DAY:
            return start + timedelta(days=1)
        if granularity is Granularity.WEEK:
            return start + timedelta(days=7)
        if granularity is Granularity.MONTH:
            return date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return date(start.year + 1, 1, 1)
    except (OverflowError, ValueError):
        return None


def bucket_starts(first: date, last: date, granularity: Granularity) -> Iterator[date]:
    """Every bucket start from the bucket holding ``first`` to the one holding ``last``."""
    current: date | None = bucket_start(first, granularity)
    end = bucket_start(last, granularity)
    while current is not None and current <= end:
        yield current
        current = next_bucket(current, granularity)


def bucket_count(first: date, last: date, granularity: Granularity) -> int:
    """How many buckets ``bucket_starts(first, last, granularity)`` yields, without making them."""
    a, b = bucket_start(first, granularity), bucket_start(last, granularity)
    if b < a:
        return 0
    if granularity is Granularity.DAY:
        return (b - a).days + 1
    if granularity is Granularity.WEEK:
        return (b - a).days // 7 + 1
    if granularity is Granularity.MONTH:
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return b.year - a.year + 1


def fill_gaps(
    buckets: Sequence[T],
    start_of: Callable[[T], date],
    empty: Callable[[date], T],
    window: Window,
    granularity: Granularity,
    today: date,
) -> Iterator[T]:
    """Every bucket of the window, oldest first, an ``empty`` one where the source had none.

    The window's open ends are the first bucket the source returned and today. Buckets outside the
    window (an upstream's own handling of today) are kept, not dropped. Made as they are read, so a
    long series can be handed out a part at a time.
    """
    first = window.start or (start_of(buckets[0]) if buckets else None)
    if first is None:
        return iter(())
    last = max(first, window.end or today)
    have = {start_of(b): b for b in buckets}
    inside = (have.get(start) or empty(start) for start in bucket_starts(first, last, granularity))
    lo, hi = bucket_start(first, granularity), bucket_start(last, granularity)

    def generated(day: date) -> bool:
        return lo <= day <= hi and bucket_start(day, granularity) == day

    outside = sorted((b for start, b in have.items() if not generated(start)), key=start_of)
    return heapq.merge(inside, outside, key=start_of) if outside else inside


def rebucket(counts: Iterable[tuple[date, int]], granularity: Granularity) -> list[tuple[date, int]]:
    """Sum per-day (or finer) counts into buckets of ``granularity``, oldest first."""
    sums: dict[date, int] = {}
    for day, count in counts:
        start = bucket_start(day, granularity)
        sums[start] = sums.get(start, 0) + count
    return sorted(sums.items())


def one_year_later(day: date) -> date:
    """The same day a year later (Feb 29 -> Feb 28); ``date.max`` past the end of the calendar."""
    if day.year == date.max.year:
        return date.max
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 2, 28)


def year_chunks(start: date, end: date, most: int | None = None) -> list[tuple[date, date]]:
    """Split an inclusive window into consecutive parts spanning at most one year each.

    A part runs from its start to the same day a year later, as clients of a one-year cap do
    (``2021-01-01..2022-01-01`` is one part); the next part starts the day after. With ``most``,
    stops after ``most + 1`` parts: enough for the caller to see that there are too many.
    """
    parts: list[tuple[date, date]] = []
    current = start
    while current <= end and (most is None or len(parts) <= most):
        last = min(end, one_year_later(current))
        parts.append((current, last))
        if last == date.max:
            break
        current = last + timedelta(days=1)
    return parts
