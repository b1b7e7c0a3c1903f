"""Dates, windows and UTC buckets, shared by both sources. Pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from gateway.errors import BadUserInput

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
                    f"{name} must be a calendar day written YYYY-MM-DD, not {value.raw!r}.",
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


def next_bucket(start: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    if granularity is Granularity.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def bucket_starts(first: date, last: date, granularity: Granularity) -> Iterator[date]:
    """Every bucket start from the bucket holding ``first`` to the one holding ``last``."""
    current = bucket_start(first, granularity)
    end = bucket_start(last, granularity)
    while current <= end:
        yield current
        current = next_bucket(current, granularity)


def rebucket(counts: Iterable[tuple[date, int]], granularity: Granularity) -> list[tuple[date, int]]:
    """Sum per-day (or finer) counts into buckets of ``granularity``, oldest first."""
    sums: dict[date, int] = {}
    for day, count in counts:
        start = bucket_start(day, granularity)
        sums[start] = sums.get(start, 0) + count
    return sorted(sums.items())


def one_year_later(day: date) -> date:
    """The same day a year later (Feb 29 -> Feb 28)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 2, 28)


def year_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """Split an inclusive window into consecutive parts spanning at most one year each.

    A part runs from its start to the same day a year later, as clients of a one-year cap do
    (``2021-01-01..2022-01-01`` is one part); the next part starts the day after.
    """
    parts: list[tuple[date, date]] = []
    current = start
    while current <= end:
        last = min(end, one_year_later(current))
        parts.append((current, last))
        current = last + timedelta(days=1)
    return parts
